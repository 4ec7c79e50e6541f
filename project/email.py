"""EMAIL_URL: one variable for the outgoing mail server, as DATABASE_URL is for the database.

    smtp://user:password@mail.example.com:587        SMTP with STARTTLS (587 is the default)
    smtp+ssl://user:password@mail.example.com:465    SMTP over TLS
    smtp+plain://mail.example.com:25                 SMTP without encryption (a local relay)
    console://                                       print mails (the local default)

User and password are percent-decoded, so a password may hold any character.
"""

from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_SMTP = "django.core.mail.backends.smtp.EmailBackend"
_SCHEMES = {
    "smtp": (587, True, False),
    "smtp+tls": (587, True, False),
    "smtp+ssl": (465, False, True),
    "smtps": (465, False, True),
    "smtp+plain": (25, False, False),
}


def email_settings_from_url(url: str) -> dict[str, object]:
    """The Django EMAIL_* settings that `url` describes; ImproperlyConfigured if it cannot."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if scheme not in _SCHEMES:
        raise ImproperlyConfigured(
            f"EMAIL_URL must start with smtp://, smtp+ssl://, smtp+plain:// or console://, "
            f"got {scheme or 'nothing'}://."
        )
    default_port, use_tls, use_ssl = _SCHEMES[scheme]
    try:
        port = parts.port or default_port
    except ValueError as exc:
        raise ImproperlyConfigured("EMAIL_URL has a port that is not a number.") from exc
    if not parts.hostname:
        raise ImproperlyConfigured("EMAIL_URL names no host (smtp://user:password@host:587).")
    return {
        "EMAIL_BACKEND": _SMTP,
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": port,
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_TLS": use_tls,
        "EMAIL_USE_SSL": use_ssl,
    }

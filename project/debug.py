"""What Django's debug pages and error reports may show."""

import re

from django.views.debug import SafeExceptionReporterFilter


class CredentialsHiddenFilter(SafeExceptionReporterFilter):
    """Django's filter, also hiding settings and environment entries that hold credentials
    in a URL (DATABASE_URL, REDIS_URL, OPENAI_BASE_URL, a cache's LOCATION): their
    passwords are not under a name Django knows to hide."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|URL|DSN|LOCATION|CREDENTIAL",
        flags=re.IGNORECASE,
    )

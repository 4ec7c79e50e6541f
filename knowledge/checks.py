"""System checks: a library embedded by another model than the configured one."""

from django.core import checks
from django.db import DatabaseError


@checks.register(checks.Tags.database)
def check_embedding_model(app_configs=None, **kwargs):
    from knowledge.selectors import current_model, documents_stale_exist

    try:
        stale = documents_stale_exist()
    except DatabaseError:  # not migrated yet
        return []
    if not stale:
        return []
    return [
        checks.Warning(
            f"Some knowledge documents were embedded by another model than "
            f"COACH_EMBEDDING_MODEL ({current_model()}); searches leave them out.",
            hint="Run `manage.py knowledge_reindex`.",
            id="knowledge.W001",
        )
    ]

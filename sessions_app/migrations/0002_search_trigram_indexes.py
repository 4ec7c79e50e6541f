"""Trigram indexes for the gallery's word search, on PostgreSQL only.

The search (`session_list_public(q=...)`) is a case-insensitive substring match,
`UPPER(col) LIKE UPPER('%word%')`: no B-tree can serve it, and at 100,000 sessions a
scan of titles and prompts costs hundreds of milliseconds (docs/performance.md). A GIN
index with pg_trgm's `gin_trgm_ops` on the same `UPPER(col)` expression answers it.

Not part of the models' state: SQLite has no such index, and the app works the same
without them (only slower). If the database role may not create the pg_trgm
extension, the migration says so and carries on without the indexes.
"""

import logging

from django.db import DatabaseError, migrations, transaction

logger = logging.getLogger(__name__)

INDEXES = (
    ("session_title_trgm_idx", "sessions_app_coachingsession", "title"),
    ("prompt_text_trgm_idx", "sessions_app_prompt", "text"),
)


def create_indexes(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as exc:
        logger.warning(
            "pg_trgm is not available (%s): the gallery search works without its "
            "indexes, only slower. Ask the database owner to run "
            "CREATE EXTENSION pg_trgm, then migrate sessions_app 0001 and back to 0002.",
            exc,
        )
        return
    for name, table, column in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
            f"USING gin ((UPPER({column}::text)) gin_trgm_ops)"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("sessions_app", "0001_initial")]

    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]

"""pgvector, where the database has it: the extension, the vector table, and the HNSW
index for the default model's 384 dimensions (others are made when first written).

Nothing happens on SQLite, nor on a PostgreSQL without the extension available (the
search then runs in process, from Passage.embedding): the same migrations run
everywhere. Vectors already stored as bytes are copied in. See docs/knowledge.md.
"""

import django.db.models.deletion
import pgvector.django.vector
from django.db import migrations, models


DEFAULT_DIMS = 384


def has_pgvector(schema_editor) -> bool:
    if schema_editor.connection.vendor != "postgresql":
        return False
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        return cursor.fetchone() is not None


def create(apps, schema_editor):
    if not has_pgvector(schema_editor):
        return
    from knowledge.vector_store import hnsw_index_sql

    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS vector")
    schema_editor.execute(
        """
        CREATE TABLE IF NOT EXISTS knowledge_passage_vector (
            passage_id bigint PRIMARY KEY
                REFERENCES knowledge_passage (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
            coach_id bigint NOT NULL,
            model varchar(200) NOT NULL,
            dims integer NOT NULL CHECK (dims > 0),
            embedding vector NOT NULL
        )
        """
    )
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS knowledge_passage_vector_coach_model "
        "ON knowledge_passage_vector (coach_id, model)"
    )
    schema_editor.execute(hnsw_index_sql(DEFAULT_DIMS))
    # Vectors stored before (float32 little-endian bytes): copied in.
    import numpy as np

    Passage = apps.get_model("knowledge", "Passage")
    rows = Passage.objects.exclude(embedding=None).exclude(embedding_model="")
    with schema_editor.connection.cursor() as cursor:
        for passage in rows.iterator():
            values = np.frombuffer(bytes(passage.embedding), dtype="<f4")
            cursor.execute(
                "INSERT INTO knowledge_passage_vector (passage_id, coach_id, model, dims, "
                "embedding) VALUES (%s, %s, %s, %s, %s::vector) ON CONFLICT DO NOTHING",
                [
                    passage.pk,
                    passage.coach_id,
                    passage.embedding_model,
                    len(values),
                    "[" + ",".join(f"{x:.7g}" for x in values.tolist()) + "]",
                ],
            )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TABLE IF EXISTS knowledge_passage_vector")


class Migration(migrations.Migration):

    dependencies = [
        ('knowledge', '0002_starter_library'),
    ]

    operations = [
        migrations.RunPython(create, drop),
        migrations.CreateModel(
            name='PassageVector',
            fields=[
                ('passage', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, primary_key=True, related_name='+', serialize=False, to='knowledge.passage')),
                ('coach_id', models.BigIntegerField()),
                ('model', models.CharField(max_length=200)),
                ('dims', models.PositiveIntegerField()),
                ('embedding', pgvector.django.vector.VectorField()),
            ],
            options={
                'db_table': 'knowledge_passage_vector',
                'managed': False,
            },
        ),
    ]

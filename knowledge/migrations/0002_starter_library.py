"""The starter coaches' libraries (knowledge/starter/), as text: they are embedded in the
background at first start, since the embedding server may not be up during `migrate`."""

import hashlib
import re

from django.db import migrations

HANGUL = re.compile("[\uac00-\ud7a3]")


def load(apps, schema_editor):
    from knowledge.chunking import chunk_document, normalise, split_sections
    from knowledge.starter import starter_documents

    Coach = apps.get_model("coach", "Coach")
    Document = apps.get_model("knowledge", "Document")
    Passage = apps.get_model("knowledge", "Passage")
    for slug, name, raw in starter_documents():
        coach = Coach.objects.filter(slug=slug).first()
        if coach is None or Document.objects.filter(coach=coach, source_name=name).exists():
            continue
        text = normalise(raw)
        sections = split_sections(text)
        title = sections[0].headings[0] if sections and sections[0].headings else name
        chunks = chunk_document(text, title=title)
        document = Document.objects.create(
            coach=coach,
            title=title[:200],
            source_name=name,
            language="ko" if HANGUL.search(text) else "en",
            content=text,
            content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
            status="pending",
            passage_count=len(chunks),
        )
        Passage.objects.bulk_create(
            Passage(
                document=document,
                coach=coach,
                ordinal=ordinal,
                heading_path=chunk.heading_path,
                text=chunk.text,
                token_estimate=chunk.token_estimate,
            )
            for ordinal, chunk in enumerate(chunks)
        )


def unload(apps, schema_editor):
    from knowledge.starter import starter_documents

    Document = apps.get_model("knowledge", "Document")
    for slug, name, _text in starter_documents():
        Document.objects.filter(coach__slug=slug, source_name=name).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge", "0001_initial"),
        ("coach", "0004_starter_coaches_korean"),
    ]

    operations = [migrations.RunPython(load, unload)]

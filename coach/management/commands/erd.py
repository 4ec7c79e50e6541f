"""Print docs/erd.md: a Mermaid erDiagram built from the models themselves.

`make erd` rewrites the file; coach/tests/test_erd.py fails when it is stale.
"""

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import models

APPS = ("accounts", "coach", "sessions_app", "knowledge")

TYPE_NAMES = {
    "AutoField": "int",
    "BigAutoField": "bigint",
    "BigIntegerField": "bigint",
    "BinaryField": "blob",
    "BooleanField": "bool",
    "CharField": "varchar",
    "DateField": "date",
    "DateTimeField": "datetime",
    "EmailField": "varchar",
    "FloatField": "float",
    "ForeignKey": "bigint",
    "IntegerField": "int",
    "JSONField": "json",
    "PositiveIntegerField": "int",
    "PositiveSmallIntegerField": "smallint",
    "SlugField": "varchar",
    "TextField": "text",
}

HEADER = """# Entity-relationship diagram

Generated from the models by `python manage.py erd > docs/erd.md` (`make erd`); a test
fails when this file no longer matches the models.

`Prompt` is one table. Its `kind` column selects the proxy class that gives the row its
behaviour: `CurrentState`, `Goal` or `Misc` (label, allowed preset tags, validation, and
the text sent to the model). A session has one prompt of each kind.

"""


def mermaid_lines() -> list[str]:
    lines = ["erDiagram"]
    relations = []
    concrete = [
        model
        for label in APPS
        for model in apps.get_app_config(label).get_models()
        if not model._meta.proxy
    ]
    for model in concrete:
        meta = model._meta
        lines.append(f"    {meta.object_name} {{")
        for field in meta.concrete_fields:
            kind = TYPE_NAMES.get(field.get_internal_type(), field.get_internal_type().lower())
            keys = []
            if field.primary_key:
                keys.append("PK")
            if isinstance(field, models.ForeignKey):
                keys.append("FK")
            elif field.unique and not field.primary_key:
                keys.append("UK")
            key = f" {','.join(keys)}" if keys else ""
            note = ""
            if field.name == "kind" and meta.object_name == "Prompt":
                proxies = [
                    m._meta.object_name
                    for m in apps.get_models()
                    if m._meta.proxy_for_model is model
                ]
                note = f' "{" | ".join(sorted(proxies))}"'
            lines.append(f"        {kind} {field.column}{key}{note}")
            if isinstance(field, models.ForeignKey):
                target = field.related_model._meta.object_name
                many = "o{" if not field.unique else "o|"
                relations.append(f'    {target} ||--{many} {meta.object_name} : "{field.name}"')
        lines.append("    }")
    return lines + relations


class Command(BaseCommand):
    help = "Print the Mermaid ER diagram of Stepwise's models (the content of docs/erd.md)."

    def handle(self, *args, **options):
        self.stdout.write(render_erd(), ending="")


def render_erd() -> str:
    return HEADER + "```mermaid\n" + "\n".join(mermaid_lines()) + "\n```\n"

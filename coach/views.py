"""Pages of the coach app: the help page on connecting a model."""

from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.http import Http404
from django.utils.safestring import SafeString
from django.views.generic import TemplateView

from sessions_app.markdown import render_markdown


def model_help_path() -> Path:
    return Path(settings.BASE_DIR) / "docs" / "model.md"


@lru_cache(maxsize=4)
def _rendered(path: Path, mtime_ns: int) -> SafeString:
    # Keyed on the file's modification time, so an edited file shows without a restart.
    return render_markdown(path.read_text(encoding="utf-8"))


def model_help_html() -> SafeString:
    """docs/model.md as sanitised HTML, rendered once per process (and per edit)."""
    path = model_help_path()
    try:
        return _rendered(path, path.stat().st_mtime_ns)
    except OSError as exc:
        raise Http404("docs/model.md is missing from this installation") from exc


class ModelHelpView(TemplateView):
    """`/help/model/`: how to connect a real model, from docs/model.md, served by the site
    itself (self-hosters may run offline). Public, GET only."""

    template_name = "help/model.html"
    http_method_names = ["get", "head"]

    def get_context_data(self, **kwargs):
        return super().get_context_data(content=model_help_html(), **kwargs)

"""The text of an uploaded file: Markdown, plain text or PDF (its text layer).

Every refusal is a `DocumentRejected` whose message a member of staff can act on.
"""

from __future__ import annotations

import io
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from knowledge.chunking import normalise

TEXT_SUFFIXES = (".md", ".markdown", ".txt", ".text")
PDF_SUFFIXES = (".pdf",)
SUFFIXES = TEXT_SUFFIXES + PDF_SUFFIXES
PDF_MAGIC = b"%PDF-"
# In a text file, more than this share of control characters means it is not text.
MAX_CONTROL_SHARE = 0.01


class DocumentRejected(ValidationError):
    """A file or text that cannot become a document (the message says why)."""


def check_size(size: int) -> None:
    limit = settings.COACH_KNOWLEDGE_MAX_FILE_BYTES
    if size > limit:
        raise DocumentRejected(
            _("The file is too large (%(size)s); the most is %(limit)s.")
            % {"size": filesizeformat(size), "limit": filesizeformat(limit)}
        )


def text_from_bytes(data: bytes, *, name: str) -> str:
    """The document's text from a file's bytes, by its name's suffix (and its content:
    a PDF is recognised by its signature whatever its name)."""
    check_size(len(data))
    suffix = PurePath(name).suffix.lower()
    if data.startswith(PDF_MAGIC) or suffix in PDF_SUFFIXES:
        text = _pdf_text(data)
    elif suffix in TEXT_SUFFIXES or not suffix:
        text = _decode_text(data)
    else:
        raise DocumentRejected(
            _("%(name)s is not a Markdown, text or PDF file (.md, .txt or .pdf).") % {"name": name}
        )
    return text_check(text)


def text_check(text: str) -> str:
    """Pasted or extracted text, normalised; refused when there is nothing to read."""
    text = normalise(text or "")
    if not text:
        raise DocumentRejected(_("The document is empty: there is no text in it."))
    check_size(len(text.encode("utf-8")))
    return text


def _decode_text(data: bytes) -> str:
    if b"\x00" in data:
        raise DocumentRejected(_("This file is not text (it looks like a binary file)."))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DocumentRejected(
            _("This file is not UTF-8 text. Save it as UTF-8 and upload it again.")
        ) from None
    controls = sum(1 for ch in text if ch < " " and ch not in "\n\r\t\f")
    if text and controls / len(text) > MAX_CONTROL_SHARE:
        raise DocumentRejected(_("This file is not text (it looks like a binary file)."))
    return text


def _pdf_text(data: bytes) -> str:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError

        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentRejected(_("This PDF is encrypted: upload a copy without a password."))
        pages = [page.extract_text() or "" for page in reader.pages]
    except DocumentRejected:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError):
        raise DocumentRejected(_("This PDF cannot be read: it may be damaged.")) from None
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text.strip():
        raise DocumentRejected(
            _(
                "This PDF has no text layer (a scan or images only): there is no text to "
                "search. Upload a PDF with selectable text, or its text as a .txt file."
            )
        )
    return text

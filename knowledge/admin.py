from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from knowledge.extraction import SUFFIXES, DocumentRejected, check_size, text_check, text_from_bytes
from knowledge.models import Citation, Document, DocumentStatus, Passage
from knowledge.selectors import documents_stale_exist
from knowledge.services import document_embed, document_load


class DocumentAddForm(forms.ModelForm):
    """A file (Markdown, text or PDF) or pasted text, for a coach's library."""

    upload = forms.FileField(
        label=_("File"),
        required=False,
        help_text=_("Markdown, plain text or PDF (with a text layer)."),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(SUFFIXES)}),
    )
    pasted = forms.CharField(
        label=_("Or paste the text"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 12}),
    )

    class Meta:
        model = Document
        fields = ("coach", "title", "source_name")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["title"].required = False
        self.fields["title"].help_text = _("Blank: the document's first heading, or its name.")
        self.fields["source_name"].required = False
        self.fields["source_name"].help_text = _(
            "Blank: the file's name. Loading the same name again replaces the document."
        )

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("upload")
        pasted = (cleaned.get("pasted") or "").strip()
        if bool(upload) == bool(pasted):
            raise ValidationError(_("Choose a file or paste the text (one of the two)."))
        name = (cleaned.get("source_name") or "").strip()
        if not upload and not name:
            raise ValidationError({"source_name": _("Give pasted text a name.")})
        try:
            if upload:
                check_size(upload.size)
                name = name or upload.name
                cleaned["text"] = text_from_bytes(upload.read(), name=name)
            else:
                cleaned["text"] = text_check(pasted)
        except DocumentRejected as exc:
            raise ValidationError({"upload" if upload else "pasted": exc.messages}) from None
        cleaned["source_name"] = name
        return cleaned

    def validate_unique(self):
        """Loading a name that exists replaces that document: not an error."""


class PassageInline(admin.TabularInline):
    model = Passage
    extra = 0
    can_delete = False
    max_num = 0
    fields = ("ordinal", "heading_path", "text", "token_estimate", "embedding_model")
    readonly_fields = fields
    show_change_link = True


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("title", "coach", "language", "status", "status_reason", "passage_count")
    list_filter = ("status", "coach", "language")
    search_fields = ("title", "source_name", "content")
    actions = ("embed_again",)
    inlines = (PassageInline,)
    readonly_fields = (
        "status",
        "status_reason",
        "embedding_model",
        "passage_count",
        "content_hash",
        "created_at",
        "updated_at",
    )
    fields = ("coach", "title", "source_name", "language", *readonly_fields, "content")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = DocumentAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("coach", "title", "source_name", "upload", "pasted")
        return self.fields

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # The coach is repeated on every passage: a document moves by loading it again.
        return (*self.readonly_fields, "content", "source_name", "coach")

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        result = document_load(
            coach=form.cleaned_data["coach"],
            name=form.cleaned_data["source_name"],
            title=form.cleaned_data.get("title") or "",
            content=form.cleaned_data["text"],
        )
        obj.pk = result.document.pk
        obj.__dict__.update(
            {k: v for k, v in result.document.__dict__.items() if not k.startswith("_")}
        )
        if not result.changed:
            self.message_user(
                request,
                _("The document had not changed: its passages were kept as they were."),
                messages.INFO,
            )
        elif result.document.status == DocumentStatus.FAILED:
            self.message_user(request, result.document.status_reason, messages.ERROR)

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    def changelist_view(self, request, extra_context=None):
        if documents_stale_exist():
            self.message_user(
                request,
                _(
                    "Some documents were embedded by another model than the configured one "
                    "(COACH_EMBEDDING_MODEL): they are left out of searches until you run "
                    "`manage.py knowledge_reindex`."
                ),
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)

    @admin.action(description=_("Embed the selected documents again"))
    def embed_again(self, request, queryset):
        documents = [document_embed(document=d) for d in queryset]
        ready = sum(1 for d in documents if d.status == DocumentStatus.READY)
        self.message_user(
            request,
            ngettext("%(n)d document is ready.", "%(n)d documents are ready.", ready)
            % {"n": ready},
            messages.SUCCESS if ready == len(documents) else messages.WARNING,
        )


@admin.register(Passage)
class PassageAdmin(admin.ModelAdmin):
    list_display = ("__str__", "coach", "heading_path", "token_estimate", "embedding_model")
    list_filter = ("coach", "embedding_model")
    search_fields = ("text", "heading_path", "document__title")
    readonly_fields = (
        "document",
        "coach",
        "ordinal",
        "heading_path",
        "text",
        "token_estimate",
        "embedding_model",
    )
    exclude = ("embedding",)

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Citation)
class CitationAdmin(admin.ModelAdmin):
    list_display = ("message", "rank", "document_title", "score")
    raw_id_fields = ("message", "passage")

    def has_add_permission(self, request) -> bool:
        return False

"""A coach's document library: documents, their passages (with embeddings), and the
passages a reply was given (citations). See docs/knowledge.md."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from pgvector.django import VectorField

from coach.models import Coach

TITLE_MAX_LENGTH = 200
SOURCE_NAME_MAX_LENGTH = 255
MODEL_NAME_MAX_LENGTH = 200


class DocumentStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    READY = "ready", _("ready")
    FAILED = "failed", _("failed")


class Document(models.Model):
    """One document of a coach's library. Its passages are searchable only while it is
    `ready`: every passage is embedded, all by `embedding_model`."""

    coach = models.ForeignKey(
        Coach, on_delete=models.CASCADE, related_name="documents", verbose_name=_("coach")
    )
    title = models.CharField(_("title"), max_length=TITLE_MAX_LENGTH)
    # The file name it came from (or one given to pasted text): loading the same name
    # again for the same coach replaces the document.
    source_name = models.CharField(_("source name"), max_length=SOURCE_NAME_MAX_LENGTH)
    language = models.CharField(_("language"), max_length=8, blank=True)
    content = models.TextField(_("text"))
    content_hash = models.CharField(_("content hash"), max_length=64)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=DocumentStatus.choices,
        default=DocumentStatus.PENDING,
    )
    status_reason = models.CharField(_("reason"), max_length=500, blank=True)
    embedding_model = models.CharField(
        _("embedding model"), max_length=MODEL_NAME_MAX_LENGTH, blank=True
    )
    passage_count = models.PositiveIntegerField(_("passages"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["coach", "title", "id"]
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        constraints = [
            models.UniqueConstraint(
                fields=["coach", "source_name"], name="document_one_per_source_name"
            ),
        ]
        indexes = [models.Index(fields=["coach", "status"], name="document_coach_status_idx")]

    def __str__(self) -> str:
        return self.title


class Passage(models.Model):
    """A piece of a document, following its headings and paragraphs, and its embedding
    (float32 values, little-endian, as bytes) with the model that made it."""

    document = models.ForeignKey(
        Document, on_delete=models.CASCADE, related_name="passages", verbose_name=_("document")
    )
    # The document's coach, repeated so that a search reads one table.
    coach = models.ForeignKey(
        Coach, on_delete=models.CASCADE, related_name="passages", verbose_name=_("coach")
    )
    ordinal = models.PositiveIntegerField(_("position"))
    heading_path = models.CharField(_("headings"), max_length=500, blank=True)
    text = models.TextField(_("text"))
    token_estimate = models.PositiveIntegerField(_("tokens (estimated)"))
    embedding = models.BinaryField(_("embedding"), null=True, blank=True)
    embedding_model = models.CharField(
        _("embedding model"), max_length=MODEL_NAME_MAX_LENGTH, blank=True
    )

    class Meta:
        ordering = ["document", "ordinal"]
        verbose_name = _("passage")
        verbose_name_plural = _("passages")
        constraints = [
            models.UniqueConstraint(
                fields=["document", "ordinal"], name="passage_one_per_position"
            ),
        ]
        indexes = [
            models.Index(fields=["coach", "embedding_model"], name="passage_coach_model_idx")
        ]

    def __str__(self) -> str:
        return f"{self.document.title} #{self.ordinal + 1}"


class Citation(models.Model):
    """A passage a reply was given, as it was then: history shows what the coach consulted
    even after its document changed or went away."""

    message = models.ForeignKey(
        "sessions_app.Message",
        on_delete=models.CASCADE,
        related_name="citations",
        verbose_name=_("message"),
    )
    passage = models.ForeignKey(
        Passage,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="citations",
        verbose_name=_("passage"),
    )
    rank = models.PositiveSmallIntegerField(_("rank"))
    score = models.FloatField(_("score"))
    document_title = models.CharField(_("document"), max_length=TITLE_MAX_LENGTH)
    heading_path = models.CharField(_("headings"), max_length=500, blank=True)
    text = models.TextField(_("text"))

    class Meta:
        ordering = ["message", "rank"]
        verbose_name = _("citation")
        verbose_name_plural = _("citations")
        constraints = [
            models.UniqueConstraint(fields=["message", "rank"], name="citation_one_per_rank")
        ]

    def __str__(self) -> str:
        return f"{self.document_title} ({self.rank})"


class PassageVector(models.Model):
    """A passage's embedding as a pgvector `vector`, for PostgreSQL's HNSW search.

    PostgreSQL with the pgvector extension only: migration 0003 creates the extension and
    this table when the server has pgvector, and nothing otherwise (SQLite, or a PostgreSQL
    without it), where searches use the `Passage.embedding` bytes in process instead
    (knowledge.selectors). Its rows follow the passages' embeddings
    (knowledge.vector_store); `dims` selects the HNSW index of that dimension.
    """

    passage = models.OneToOneField(
        Passage,
        on_delete=models.DO_NOTHING,  # ON DELETE CASCADE in the database
        primary_key=True,
        db_constraint=False,
        related_name="+",
    )
    coach_id = models.BigIntegerField()
    model = models.CharField(max_length=MODEL_NAME_MAX_LENGTH)
    dims = models.PositiveIntegerField()
    embedding = VectorField()

    class Meta:
        managed = False
        db_table = "knowledge_passage_vector"

    def __str__(self) -> str:
        return f"{self.model} vector of passage {self.passage_id}"

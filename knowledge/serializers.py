from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from knowledge.search import QUERY_MAX_LENGTH


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(
        max_length=QUERY_MAX_LENGTH,
        help_text=_("What you are looking for, in any language (at most 200 characters)."),
    )
    coach = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text=_("Only this coach's library (its slug); every coach's when absent."),
    )


class SearchHitSerializer(serializers.Serializer):
    passage = serializers.IntegerField(source="passage_id")
    url = serializers.CharField(help_text=_("The passage's page."))
    document = serializers.CharField(source="document_title")
    coach = serializers.CharField(help_text=_("The coach's slug."))
    heading = serializers.CharField(source="heading_path")
    text = serializers.CharField()
    score = serializers.FloatField(help_text=_("Cosine similarity to the query (-1 to 1)."))


class SearchResultSerializer(serializers.Serializer):
    results = SearchHitSerializer(many=True, help_text=_("Best first."))
    preparing = serializers.BooleanField(
        help_text=_("Some documents are still being embedded: not searchable yet.")
    )
    reindex_needed = serializers.BooleanField(
        help_text=_(
            "Some documents were embedded by another model than the configured one and are "
            "left out until staff reindex them."
        )
    )

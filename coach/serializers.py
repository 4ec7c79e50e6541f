from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from coach.models import Coach


class CoachSerializer(serializers.ModelSerializer):
    """A coach in the request's language (Accept-Language; English when it has no words in
    that language). Preset answers are stable values, the same in every language."""

    name = serializers.CharField(source="display_name")
    description = serializers.CharField(source="display_description")
    state_options = serializers.ListField(
        child=serializers.CharField(),
        help_text=_("Preset answers for “where am I now”: send these values as tags."),
    )
    goal_options = serializers.ListField(
        child=serializers.CharField(),
        help_text=_("Preset answers for “what do I want”: send these values as tags."),
    )
    option_labels = serializers.SerializerMethodField(
        help_text=_("Each preset answer's words in the request's language: {value: label}.")
    )

    class Meta:
        model = Coach
        fields = ["slug", "name", "description", "state_options", "goal_options", "option_labels"]

    def get_option_labels(self, coach) -> dict[str, str]:
        return coach.option_labels()


class QuotaSerializer(serializers.Serializer):
    limit = serializers.IntegerField()
    used = serializers.IntegerField()
    remaining = serializers.IntegerField()
    resets_at = serializers.DateTimeField()

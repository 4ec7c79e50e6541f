from rest_framework import serializers

from coach.models import Coach


class CoachSerializer(serializers.ModelSerializer):
    state_options = serializers.ListField(child=serializers.CharField())
    goal_options = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = Coach
        fields = ["slug", "name", "description", "state_options", "goal_options"]


class QuotaSerializer(serializers.Serializer):
    limit = serializers.IntegerField()
    used = serializers.IntegerField()
    remaining = serializers.IntegerField()
    resets_at = serializers.DateTimeField()

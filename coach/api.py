from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from coach.selectors import coach_list_active, quota_get
from coach.serializers import CoachSerializer, QuotaSerializer


class CoachListAPIView(ListAPIView):
    """The coaches offered for new sessions, with the wizard's preset options."""

    permission_classes = [AllowAny]
    serializer_class = CoachSerializer
    pagination_class = None

    def get_queryset(self):
        return coach_list_active()


class QuotaAPIView(APIView):
    """How many model requests the caller has left today, and when the count resets."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: QuotaSerializer})
    def get(self, request):
        return Response(QuotaSerializer(quota_get(user=request.user)).data)

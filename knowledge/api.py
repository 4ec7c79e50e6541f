"""`GET /api/knowledge/search/?q=…&coach=…`: the libraries searched by meaning. Public."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from coach.llm import LLMError
from coach.models import Coach
from coach.selectors import coach_get_active
from knowledge.search import library_search
from knowledge.serializers import SearchQuerySerializer, SearchResultSerializer
from project.throttling import AnonApiThrottle, UserApiThrottle
from sessions_app.serializers import ErrorSerializer


class KnowledgeSearchAPIView(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [AnonApiThrottle, UserApiThrottle]

    @extend_schema(
        operation_id="knowledge_search",
        parameters=[SearchQuerySerializer],
        responses={
            200: SearchResultSerializer,
            400: OpenApiResponse(ErrorSerializer, description="`q` is missing, empty or too long."),
            404: OpenApiResponse(ErrorSerializer, description="No such coach."),
            503: OpenApiResponse(
                ErrorSerializer, description="The embedding server cannot answer just now."
            ),
        },
        description="The passages of the coaches' libraries nearest in meaning to `q`, "
        "best first, at most 10.",
    )
    def get(self, request):
        query = SearchQuerySerializer(data=request.query_params)
        if not query.is_valid():
            field, messages = next(iter(query.errors.items()))
            return Response({"detail": f"{field}: {' '.join(map(str, messages))}"}, status=400)
        q = " ".join(query.validated_data["q"].split())
        if not q:
            return Response({"detail": _("q: Write what you are looking for.")}, status=400)
        slug = (query.validated_data.get("coach") or "").strip()
        coach = None
        if slug:
            coach = coach_get_active(slug=slug)
            if coach is None:
                return Response({"detail": _("There is no such coach.")}, status=404)
        try:
            result = library_search(query=q, coach=coach)
        except LLMError as exc:
            return Response({"detail": str(exc)}, status=503)
        slugs = dict(Coach.objects.values_list("pk", "slug"))
        return Response(
            {
                "results": [
                    {
                        "passage": hit.passage_id,
                        "url": reverse("knowledge:passage", args=[hit.passage_id]),
                        "document": hit.document_title,
                        "coach": slugs.get(hit.coach_id, ""),
                        "heading": hit.heading_path,
                        "text": hit.text,
                        "score": round(hit.score, 4),
                    }
                    for hit in result.hits
                ],
                "preparing": result.state.preparing,
                "reindex_needed": result.state.needs_reindex,
            }
        )

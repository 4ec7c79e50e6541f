from django.urls import path

from knowledge.api import KnowledgeSearchAPIView

app_name = "knowledge-api"

urlpatterns = [
    path("knowledge/search/", KnowledgeSearchAPIView.as_view(), name="search"),
]

from django.urls import path

from coach import api

app_name = "coach-api"

urlpatterns = [
    path("coaches/", api.CoachListAPIView.as_view(), name="coach-list"),
    path("me/quota/", api.QuotaAPIView.as_view(), name="quota"),
]

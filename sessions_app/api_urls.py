from django.urls import path

from sessions_app import api

app_name = "sessions-api"

urlpatterns = [
    path("sessions/", api.SessionListCreateAPIView.as_view(), name="session-list"),
    path("sessions/<int:pk>/", api.SessionDetailAPIView.as_view(), name="session-detail"),
    path(
        "sessions/<int:pk>/messages/",
        api.SessionMessageCreateAPIView.as_view(),
        name="message-create",
    ),
    path("sessions/<int:pk>/retry/", api.SessionRetryAPIView.as_view(), name="retry"),
]

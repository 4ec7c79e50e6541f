from django.urls import path

from sessions_app import api, api_turns

app_name = "sessions-api"

urlpatterns = [
    path("sessions/", api_turns.session_list_create, name="session-list"),
    path("sessions/<int:pk>/", api.SessionDetailAPIView.as_view(), name="session-detail"),
    path("sessions/<int:pk>/messages/", api_turns.message_create, name="message-create"),
    path("sessions/<int:pk>/retry/", api_turns.session_retry, name="retry"),
    path("sessions/<int:pk>/report/", api.SessionReportAPIView.as_view(), name="session-report"),
    path("messages/<int:pk>/", api.MessageDetailAPIView.as_view(), name="message-detail"),
    path("messages/<int:pk>/stream/", api_turns.message_stream, name="message-stream"),
    path("messages/<int:pk>/continue/", api_turns.message_continue, name="message-continue"),
    path("messages/<int:pk>/regenerate/", api_turns.message_regenerate, name="message-regenerate"),
    path("messages/<int:pk>/stop/", api_turns.message_stop, name="message-stop"),
]

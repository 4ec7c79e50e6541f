from django.urls import path

from sessions_app.views import gallery, report, session, wizard
from sessions_app.views.export import SessionExportView

app_name = "sessions"

urlpatterns = [
    path("", gallery.GalleryView.as_view(), name="gallery"),
    path("sessions/new/", wizard.NewSessionWizardView.as_view(), name="new"),
    path("sessions/mine/", session.MySessionsView.as_view(), name="mine"),
    path("sessions/<int:pk>/", session.SessionDetailView.as_view(), name="detail"),
    path("sessions/<int:pk>/export.md", SessionExportView.as_view(), name="export"),
    path(
        "sessions/<int:pk>/messages/",
        session.SessionMessageCreateView.as_view(),
        name="message-create",
    ),
    path(
        "sessions/<int:pk>/messages/<int:message_pk>/continue/",
        session.MessageContinueView.as_view(),
        name="message-continue",
    ),
    path(
        "sessions/<int:pk>/messages/<int:message_pk>/regenerate/",
        session.MessageRegenerateView.as_view(),
        name="message-regenerate",
    ),
    path("sessions/<int:pk>/retry/", session.SessionRetryView.as_view(), name="retry"),
    path("sessions/<int:pk>/delete/", session.SessionDeleteView.as_view(), name="delete"),
    path("sessions/<int:pk>/report/", report.SessionReportView.as_view(), name="report"),
]

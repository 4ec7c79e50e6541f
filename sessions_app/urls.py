from django.urls import path

from sessions_app.views import gallery, session

app_name = "sessions"

urlpatterns = [
    path("", gallery.GalleryView.as_view(), name="gallery"),
    path("sessions/new/", session.SessionNewView.as_view(), name="new"),
    path("sessions/<int:pk>/", session.SessionDetailView.as_view(), name="detail"),
]

from django.urls import path

from sessions_app import views

app_name = "sessions"

urlpatterns = [
    path("", views.GalleryView.as_view(), name="gallery"),
    path("sessions/new/", views.SessionNewView.as_view(), name="new"),
    path("sessions/<int:pk>/", views.SessionDetailView.as_view(), name="detail"),
]

from django.urls import path

from accounts import api

app_name = "auth-api"

urlpatterns = [
    path("signup/", api.SignupAPIView.as_view(), name="signup"),
    path("token/", api.TokenAPIView.as_view(), name="token"),
    path("logout/", api.LogoutAPIView.as_view(), name="logout"),
    path("me/", api.MeAPIView.as_view(), name="me"),
]

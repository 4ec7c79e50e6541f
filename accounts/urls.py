from django.urls import path

from accounts import views

app_name = "accounts"

# Ours first: the same URLs as before for login, sign-up and logout, now served by
# allauth's views with our pages. allauth's own URLs (project/urls.py) give the rest:
# password reset and change, email addresses, and GitHub / Kakao login.
urlpatterns = [
    path("", views.AccountView.as_view(), name="account"),
    path("me/", views.account_me_redirect, name="account-old"),
    path("delete/", views.AccountDeleteView.as_view(), name="delete"),
    path("signup/", views.SignupView.as_view(), name="signup"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("3rdparty/", views.ConnectionsView.as_view(), name="connections"),
]

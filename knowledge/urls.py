from django.urls import path

from knowledge.views import PassageView, SearchView

app_name = "knowledge"

urlpatterns = [
    path("", SearchView.as_view(), name="search"),
    path("passages/<int:pk>/", PassageView.as_view(), name="passage"),
]

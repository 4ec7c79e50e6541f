from django.conf import settings
from django.utils.functional import SimpleLazyObject

from coach.demo import demo_in_use
from coach.selectors import quota_get


def llm(request):
    """`llm_is_demo` and `llm_model` in every template: which model answers here."""
    return {"llm_is_demo": demo_in_use(), "llm_model": settings.COACH_LLM_MODEL}


def quota(request):
    """`quota` in every template for a logged-in user, queried only when a template uses it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"quota": None}
    return {"quota": SimpleLazyObject(lambda: quota_get(user=user))}

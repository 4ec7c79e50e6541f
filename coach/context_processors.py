from django.utils.functional import SimpleLazyObject

from coach.selectors import quota_get


def quota(request):
    """`quota` in every template for a logged-in user, queried only when a template uses it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"quota": None}
    return {"quota": SimpleLazyObject(lambda: quota_get(user=user))}

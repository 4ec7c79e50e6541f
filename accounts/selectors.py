from accounts.models import User


def username_taken(username: str) -> bool:
    """Whether a member has this login name in any case (`Alice` takes `alice`)."""
    return User.objects.filter(username__iexact=username).exists()

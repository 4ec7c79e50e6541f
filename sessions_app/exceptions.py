from django.utils.translation import gettext_lazy as _

from coach.llm import LLMError


class ReplyFailed(Exception):
    """The model failed; what the user wrote is stored and can be retried."""

    def __init__(self, *, session, error: LLMError, user_message=None):
        self.session = session
        self.error = error
        self.user_message = user_message
        super().__init__(str(error))

    @property
    def status_code(self) -> int:
        return self.error.status_code


class NothingToRetry(Exception):
    def __init__(self):
        super().__init__(_("This session has no failed or unanswered turn to retry."))

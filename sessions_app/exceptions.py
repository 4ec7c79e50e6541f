from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from coach.llm import LLMError


class ReplyFailed(Exception):
    """The model failed; what the user wrote is stored and can be retried."""

    def __init__(self, *, session, error: LLMError, user_message=None, message=None):
        self.session = session
        self.error = error
        self.user_message = user_message
        self.message = message  # the assistant message, marked failed or interrupted
        super().__init__(str(error))

    @property
    def status_code(self) -> int:
        return self.error.status_code


class NothingToRetry(Exception):
    def __init__(self):
        super().__init__(_("This session has no failed or unanswered turn to retry."))


class TurnInProgress(Exception):
    """The session's coach is still writing a reply: one turn at a time."""

    def __init__(self):
        super().__init__(
            _("The coach is still writing a reply in this session. Wait for it, or stop it.")
        )


class TooManyTurns(TurnInProgress):
    """The person already has as many replies being written as one person may."""

    def __init__(self, *, limit: int):
        Exception.__init__(
            self,
            ngettext(
                "You already have %(n)d reply being written. Wait for it to finish.",
                "You already have %(n)d replies being written. Wait for one to finish.",
                limit,
            )
            % {"n": limit},
        )


class SessionFull(Exception):
    """The session has as many turns as one session may have."""

    def __init__(self, *, limit: int):
        super().__init__(
            _(
                "This session has reached its %(n)d replies. Start a new session to go on: "
                "this one stays as it is."
            )
            % {"n": limit}
        )


class NotStreaming(Exception):
    def __init__(self):
        super().__init__(_("This reply is not being written any more."))


class NothingToContinue(Exception):
    def __init__(self):
        super().__init__(
            _("Only the last reply, when it was cut short by the length limit, can be continued.")
        )


class NothingToRegenerate(Exception):
    def __init__(self):
        super().__init__(_("Only the last reply, once it has been written, can be written again."))

"""The ASGI application (the Procfile's gunicorn runs it with uvicorn workers).

Django's handler, with fewer trips between the event loop and threads
(project/asgi_handler.py). Django does not speak the ASGI lifespan protocol, so this
wraps it. On startup the model's SDK client is made: its import would otherwise stall
the event loop at the first turn. On shutdown (SIGTERM, a deploy) the replies still
being written get COACH_SHUTDOWN_GRACE_SECONDS to finish; the rest are marked
interrupted and their units given back (docs/streaming.md).
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django.setup(set_prefix=False)  # what django.core.asgi.get_asgi_application does first

from project.asgi_handler import StepwiseASGIHandler  # noqa: E402 - needs the apps ready

django_application = StepwiseASGIHandler()


async def application(scope, receive, send):
    if scope["type"] != "lifespan":
        return await django_application(scope, receive, send)
    from django.conf import settings

    from coach.llm import get_chat_client
    from sessions_app.streaming import turns_drain

    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            aopen = getattr(get_chat_client(), "aopen", None)
            if aopen is not None:  # the SDK imported before the first turn, not during it
                await aopen()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await turns_drain(settings.COACH_SHUTDOWN_GRACE_SECONDS)
            aclose = getattr(get_chat_client(), "aclose", None)
            if aclose is not None:  # a stand-in client in tests has nothing to close
                await aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return

"""A streamed turn through the app's own endpoint, written by the real local model."""

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from coach.llm import use_chat_client
from sessions_app.models import Message
from sessions_app.tests.factories import make_session
from sessions_app.tests.sse import text_of
from sessions_app.tests.test_api_turns import read_events

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_a_follow_up_streams_from_the_local_model(user, local_llm_client):
    session = make_session(owner=user)
    client = AsyncClient()
    client.force_login(user)

    async def scenario():
        response = await client.post(
            f"/api/sessions/{session.pk}/messages/",
            {"content": "Give me one short tip for tonight."},
            content_type="application/json",
            headers={"accept": "text/event-stream"},
        )
        assert response.status_code == 200
        return await read_events(response)

    with use_chat_client(local_llm_client):
        events = async_to_sync(scenario)()

    deltas = [e for e in events if e["event"] == "delta"]
    assert len(deltas) > 1, "the reply came in one piece: not streamed"
    assert events[-1]["event"] == "done"
    stored = Message.objects.filter(session=session, role="assistant").latest("id")
    assert stored.status == "ok"
    assert text_of(events) == stored.content == events[-1]["data"]["content"]
    assert stored.model_name

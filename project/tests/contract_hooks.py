"""schemathesis hooks for test_api_contract (loaded by the CLI through SCHEMATHESIS_HOOKS).

A turn endpoint answers JSON unless the request asks for `text/event-stream`; OpenAPI has
no way to make the generator send that Accept header. Here half of the generated
requests to an operation that documents an event stream ask for it, so the streaming
answer is checked (status, content type, each event's shape) as well as the JSON one.
"""

import schemathesis
from hypothesis import strategies as st

EVENT_STREAM = "text/event-stream"


def _streams(operation) -> bool:
    responses = operation.definition.raw.get("responses", {})
    return any(EVENT_STREAM in (r.get("content") or {}) for r in responses.values())


@schemathesis.hook
def flatmap_case(context, case):
    if context.operation is None or not _streams(context.operation):
        return st.just(case)

    def ask(stream: bool):
        if stream:
            case.headers = {**(case.headers or {}), "Accept": EVENT_STREAM}
        return case

    return st.booleans().map(ask)

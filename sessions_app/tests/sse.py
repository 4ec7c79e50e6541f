"""Reading server-sent events in tests (docs/streaming.md)."""

import json


def parse_block(block: str) -> dict:
    """One event, the lines between two blank lines: its id, name and JSON data."""
    event: dict = {"id": None, "event": None, "data": None, "comment": False}
    for line in block.splitlines():
        if line.startswith(":"):
            event["comment"] = True
        elif line.startswith("id: "):
            event["id"] = int(line[4:])
        elif line.startswith("event: "):
            event["event"] = line[7:]
        elif line.startswith("data: "):
            event["data"] = json.loads(line[6:])
    return event


def text_of(events: list[dict]) -> str:
    """The reply the `delta` events spell out."""
    return "".join(e["data"]["text"] for e in events if e["event"] == "delta")

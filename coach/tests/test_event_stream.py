"""Splitting server-sent events from a response's bytes (coach/llm/event_stream.py)."""

from __future__ import annotations

import pytest

from coach.llm.event_stream import EventStreamSplitter


def split(*reads: bytes) -> list[str]:
    splitter = EventStreamSplitter()
    found = [data for read in reads for data in splitter.feed(read)]
    return found + splitter.finish()


def test_one_event_a_read():
    assert split(b'data: {"a": 1}\n\n', b"data: [DONE]\n\n") == ['{"a": 1}', "[DONE]"]


def test_several_events_in_one_read():
    assert split(b"data: one\n\ndata: two\n\ndata: three\n\n") == ["one", "two", "three"]


@pytest.mark.parametrize("cut", range(1, 17))
def test_an_event_cut_anywhere_between_reads(cut):
    body = b"data: first\r\n\r\ndata: second\r\n\r\n"

    assert split(body[:cut], body[cut:]) == ["first", "second"]


def test_a_character_split_between_reads_stays_whole():
    body = "data: 명상\n\n".encode()

    assert split(body[:8], body[8:]) == ["명상"]


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
def test_every_line_end(end):
    body = b"data: a" + end + b"data: b" + end + end + b"data: c" + end + end

    assert split(body) == ["a\nb", "c"]


def test_one_leading_space_is_dropped_and_no_more():
    assert split(b"data:x\n\ndata:  y\n\n") == ["x", " y"]


def test_other_fields_and_comments_are_ignored():
    body = b": keep-alive\n\nevent: message\nid: 7\nretry: 100\ndata: hello\n\n"

    assert split(body) == ["hello"]


def test_events_without_data_are_not_dispatched():
    assert split(b"id: 1\n\ndata:\n\n\n\ndata: real\n\n") == ["real"]


def test_a_field_name_alone_is_an_empty_value():
    assert split(b"data\ndata: x\n\n") == ["\nx"]


def test_the_last_event_without_its_blank_line():
    assert split(b"data: one\n\ndata: two") == ["one", "two"]
    assert split(b"data: one\r\n") == ["one"]

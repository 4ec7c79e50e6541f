"""Splitting documents into passages: headings, paragraphs, overlap, long text, Korean."""

import itertools

import pytest

from coach.prompting import estimate_tokens
from knowledge.chunking import (
    HEADING_SEPARATOR,
    chunk_document,
    normalise,
    split_sections,
    split_sentences,
)


def test_sections_follow_the_heading_path():
    text = "Intro line.\n\n# Sleep\n\nBody one.\n\n## Light\n\nBody two.\n\n# Breath\n\nBody three."
    sections = split_sections(text)
    assert [(s.headings, s.body) for s in sections] == [
        ((), "Intro line."),
        (("Sleep",), "Body one."),
        (("Sleep", "Light"), "Body two."),
        (("Breath",), "Body three."),
    ]


def test_a_heading_inside_fenced_code_is_not_a_heading():
    text = "# Real\n\n```\n# not a heading\n```\n\nAfter."
    [section] = split_sections(text)
    assert section.headings == ("Real",)
    assert "# not a heading" in section.body


def test_closing_hashes_and_spaces_are_not_part_of_the_heading():
    [section] = split_sections("## Box breathing ##\n\nInhale.")
    assert section.headings == ("Box breathing",)


def test_small_sections_give_one_passage_each_with_their_headings():
    chunks = chunk_document("# A\n\nOne.\n\n## B\n\nTwo.\n\nThree.")
    assert [(c.heading_path, c.text) for c in chunks] == [
        ("A", "One."),
        (f"A{HEADING_SEPARATOR}B", "Two.\n\nThree."),
    ]
    assert chunks[1].token_estimate == estimate_tokens("Two.\n\nThree.")


def test_paragraphs_are_packed_up_to_the_budget_and_never_split_when_they_fit():
    paragraphs = [f"Paragraph {i} " + "word " * 30 for i in range(10)]
    chunks = chunk_document("\n\n".join(paragraphs), max_tokens=100, overlap_tokens=0)
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.token_estimate <= 100
        for part in chunk.text.split("\n\n"):
            assert part.strip() in [p.strip() for p in paragraphs]


def test_consecutive_passages_overlap_by_the_last_sentences():
    sentences = [f"Sentence number {i} is about breathing slowly." for i in range(40)]
    chunks = chunk_document(" ".join(sentences), max_tokens=80, overlap_tokens=20)
    assert len(chunks) >= 3
    for before, after in itertools.pairwise(chunks):
        last = split_sentences(before.text)[-1]
        assert after.text.startswith(last)
        assert after.token_estimate <= 80


def test_no_overlap_across_sections():
    text = "# A\n\n" + "Alpha sentence here. " * 30 + "\n\n# B\n\nBeta."
    chunks = chunk_document(text, max_tokens=60, overlap_tokens=15)
    assert chunks[-1].heading_path == "B"
    assert chunks[-1].text == "Beta."


def test_a_sentence_longer_than_the_budget_is_cut():
    text = "x" * 5000
    chunks = chunk_document(text, max_tokens=50, overlap_tokens=0)
    assert "".join(c.text for c in chunks) == text
    assert all(c.token_estimate <= 50 for c in chunks)


def test_korean_text_is_chunked_by_its_token_estimate():
    paragraph = "잠들기 전 30분은 매일 같은 조용한 순서로 보내세요. " * 10
    chunks = chunk_document(f"# 수면\n\n{paragraph}\n\n{paragraph}", max_tokens=120)
    assert len(chunks) > 1
    assert all(c.heading_path == "수면" for c in chunks)
    assert all(c.token_estimate <= 120 for c in chunks)


def test_the_title_heading_is_not_repeated_in_every_path():
    chunks = chunk_document("# Guide\n\nIntro.\n\n## Part\n\nBody.", title="Guide")
    assert [c.heading_path for c in chunks] == ["", "Part"]


def test_empty_and_blank_text_give_no_passages():
    assert chunk_document("") == []
    assert chunk_document("  \n\n\t\n") == []
    assert chunk_document("# Only a heading") == []


def test_normalise_removes_control_characters_and_windows_newlines():
    assert normalise("\ufeffa\r\nb\x00c\x07\rd  \n") == "a\nbc\nd"


@pytest.mark.parametrize(("max_tokens", "overlap"), [(5, 0), (100, 60), (100, -1)])
def test_bad_budgets_are_refused(max_tokens, overlap):
    with pytest.raises(ValueError):
        chunk_document("text", max_tokens=max_tokens, overlap_tokens=overlap)

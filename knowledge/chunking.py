"""Splitting a document into passages, as pure functions (no database, no network).

A passage follows the document's structure: it never spans two sections (Markdown
headings, `#` to `######`), and it is made of whole paragraphs while they fit in
`max_tokens` (estimated as the prompt assembly estimates them). A paragraph too long
for one passage is split at sentence ends, and a sentence too long at a character
boundary. Consecutive passages of one section overlap a little: the next one starts
with the last sentences of the one before (at most `overlap_tokens`), so that an idea
cut at a boundary is whole in one of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from coach.prompting import estimate_tokens

DEFAULT_MAX_TOKENS = 220
DEFAULT_OVERLAP_TOKENS = 40
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
BLANK_LINES = re.compile(r"\n[ \t]*\n+")
# A sentence ends at . ! ? 。 (and Korean "다." "요." are covered by ".") followed by space.
SENTENCE_END = re.compile(r"(?<=[.!?。\uff01\uff1f])\s+")
HEADING_SEPARATOR = " \u203a "


@dataclass(frozen=True)
class Chunk:
    heading_path: str
    text: str
    token_estimate: int


@dataclass(frozen=True)
class Section:
    headings: tuple[str, ...]
    body: str


def normalise(text: str) -> str:
    """One newline convention, no trailing blanks, no NUL or other control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    text = "".join(ch for ch in text if ch in "\n\t" or ch >= " ")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def split_sections(text: str) -> list[Section]:
    """The document as sections under their heading path (outermost first). Text before
    the first heading is a section with no headings. Headings inside fenced code are
    not headings."""
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    lines: list[str] = []
    in_fence = False

    def close() -> None:
        body = "\n".join(lines).strip()
        if body:
            sections.append(Section(tuple(title for _level, title in stack), body))
        lines.clear()

    for line in normalise(text).split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        match = None if in_fence else HEADING.match(line)
        if match:
            close()
            level = len(match.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, match.group(2).strip()))
        else:
            lines.append(line)
    close()
    return sections


def split_sentences(paragraph: str) -> list[str]:
    return [s for s in SENTENCE_END.split(paragraph.strip()) if s]


def _hard_split(text: str, max_tokens: int) -> list[str]:
    """Pieces of at most `max_tokens` each, cut at a space where there is one."""
    pieces: list[str] = []
    rest = text.strip()
    while rest:
        if estimate_tokens(rest) <= max_tokens:
            pieces.append(rest)
            break
        # The longest prefix within the budget (binary search on characters).
        low, high = 1, len(rest)
        while low < high:
            middle = (low + high + 1) // 2
            if estimate_tokens(rest[:middle]) <= max_tokens:
                low = middle
            else:
                high = middle - 1
        cut = rest.rfind(" ", 0, low)
        cut = cut if cut > low // 2 else low
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    return pieces


def _units(body: str, max_tokens: int) -> list[tuple[str, bool]]:
    """Paragraphs, or the sentences of a paragraph too long for one passage: (text,
    whether it starts a paragraph)."""
    units: list[tuple[str, bool]] = []
    for paragraph in BLANK_LINES.split(body):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if estimate_tokens(paragraph) <= max_tokens:
            units.append((paragraph, True))
            continue
        first = True
        for sentence in split_sentences(paragraph):
            for piece in _hard_split(sentence, max_tokens):
                units.append((piece, first))
                first = False
    return units


def _tail(texts: list[str], overlap_tokens: int) -> list[str]:
    """The last sentences of a passage, at most `overlap_tokens` in all."""
    sentences = [s for text in texts for s in split_sentences(text)]
    kept: list[str] = []
    used = 0
    for sentence in reversed(sentences):
        cost = estimate_tokens(sentence)
        if used + cost > overlap_tokens:
            break
        kept.insert(0, sentence)
        used += cost
    return [" ".join(kept)] if kept else []


def _pack(units: list[tuple[str, bool]], max_tokens: int, overlap_tokens: int) -> list[str]:
    """Units packed into passage texts of at most `max_tokens`, each after the first
    starting with the tail of the one before."""
    bodies: list[str] = []
    current: list[str] = []
    fresh = 0  # units in `current` that are not overlap from the passage before
    for unit, starts_paragraph in units:
        joiner = "\n\n" if starts_paragraph else " "
        if current and fresh and estimate_tokens(joiner.join([*current, unit])) > max_tokens:
            bodies.append("\n\n".join(current).strip())
            current = _tail(current, overlap_tokens)
            fresh = 0
            if estimate_tokens("\n\n".join([*current, unit])) > max_tokens:
                current = []
        if current and not starts_paragraph and fresh:
            current[-1] = f"{current[-1]} {unit}"
        else:
            current.append(unit)
        fresh += 1
    if fresh:
        bodies.append("\n\n".join(current).strip())
    return [body for body in bodies if body]


def chunk_document(
    text: str,
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
    title: str = "",
) -> list[Chunk]:
    """The passages of a document, in order (see the module's docstring). A top heading
    that is the document's `title` is left out of the heading paths (it is said once)."""
    if max_tokens < 10 or not 0 <= overlap_tokens < max_tokens // 2:
        raise ValueError("max_tokens must be at least 10 and overlap_tokens below half of it.")
    chunks: list[Chunk] = []
    for section in split_sections(text):
        headings = section.headings
        if title and headings and headings[0] == title:
            headings = headings[1:]
        heading_path = HEADING_SEPARATOR.join(headings)[:500]
        for body in _pack(_units(section.body, max_tokens), max_tokens, overlap_tokens):
            chunks.append(Chunk(heading_path, body, estimate_tokens(body)))
    return chunks

"""Repairs for the broken Markdown small models write, as a markdown-it plugin.

A reply is rendered again on every streamed delta, so the same rules must hold for
half a reply as for a whole one. The parser pairs emphasis as CommonMark says, block by
block (paragraph, heading, list item, table cell); these rules then tidy what is left:

- An emphasis or strikethrough marker (`*`, `**`, `_`, `__`, `~~`) that could open or
  close but found no partner is dropped, never shown as stray asterisks and never left
  to pair with a marker that has not arrived yet. A marker inside a word (`2*3`,
  `snake_case`) or between spaces (`5 * 3`) is ordinary text and stays, unless it
  dangles alone at the edge of a line (`**` on a line of its own).
- A backtick run with no closing run is dropped the same way.
- `**Step 1:**Wind down` (no space after the closing marker) still closes.
- `###Step 1` (no space after the hashes) is a heading; a lone `#`, or a heading with
  nothing left in it, is dropped, and so are paragraphs and code blocks left empty.

Code spans and fenced code are never touched: their text is not parsed inline.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.rules_core.state_core import StateCore
from markdown_it.rules_inline import backtick, emphasis, strikethrough
from markdown_it.rules_inline.state_inline import Delimiter, StateInline
from markdown_it.token import Token

# What can close a phrase just before a marker that runs into the next word:
# `**Step 1:**Wind` is meant as bold "Step 1:".
_CLOSING_PUNCTUATION = frozenset(":.!?,;)")
# Two to six hashes straight against text at the start of a line. One hash is left
# alone: `#1` or `#hashtag` is rarely meant as a heading.
_TIGHT_HEADING = re.compile(r"^(#{2,6})(?=[^\s#])(.*?)(?:\s+#+)?\s*$")
_DELIMITER_MARKERS = frozenset((ord("*"), ord("_"), ord("~")))


def _is_stray(src: str, start: int, end: int, limit: int) -> bool:
    """Whether the unpaired marker run src[start:end] should go. It stays as plain text
    inside a word (`2*3`), or between spaces in the middle of a line (`5 * 3`)."""
    before = src[start - 1] if start > 0 else "\n"
    after = src[end] if end < limit else "\n"
    if before.isalnum() and after.isalnum():
        return False
    if not (before.isspace() and after.isspace()):
        return True
    line_start = src.rfind("\n", 0, start) + 1
    line_end = src.find("\n", end, limit)
    rest = src[end : limit if line_end < 0 else line_end]
    return not src[line_start:start].strip() or not rest.strip()


def _noting_runs(tokenize, markers: str):
    """Wrap an emphasis-like tokenizer: note where each marker run is, for
    `_drop_unpaired`, and let a closing-punctuation marker against a word close."""

    def rule(state: StateInline, silent: bool) -> bool:
        # The inline parser tries every rule at every position the text rule stops at.
        if silent or state.src[state.pos] not in markers:
            return False
        start, first = state.pos, len(state.delimiters)
        if not tokenize(state, silent):
            return False
        new: list[Delimiter] = state.delimiters[first:]
        if not new:
            return True
        end, src = state.pos, state.src
        run = (start, end, state.posMax)
        tight_closer = start > 0 and src[start - 1] in _CLOSING_PUNCTUATION
        tight_closer = tight_closer and end < state.posMax and src[end].isalnum()
        for delimiter in new:
            state.tokens[delimiter.token].meta["run"] = run
            if tight_closer:
                delimiter.close = True
        return True

    return rule


def _backticks(state: StateInline, silent: bool) -> bool:
    """markdown-it's code spans, with an unclosed backtick run dropped, not shown."""
    if state.src[state.pos] != "`":
        return False
    start, count = state.pos, len(state.tokens)
    if not backtick(state, silent):
        return False
    closed = len(state.tokens) > count and state.tokens[-1].type == "code_inline"
    if not silent and not closed and _is_stray(state.src, start, state.pos, state.posMax):
        state.pending = state.pending[: -(state.pos - start)]
    return True


def _drop_unpaired(state: StateInline) -> None:
    """After pairing: empty the text of every stray marker left without a partner."""
    lists = [state.delimiters]
    lists += [meta["delimiters"] for meta in state.tokens_meta if meta and "delimiters" in meta]
    for delimiters in lists:
        paired = {d.end for d in delimiters if d.end != -1}
        for index, delimiter in enumerate(delimiters):
            if delimiter.end != -1 or index in paired:
                continue
            if delimiter.marker not in _DELIMITER_MARKERS:
                continue
            token = state.tokens[delimiter.token]
            run = token.meta.get("run")
            if token.type == "text" and run and _is_stray(state.src, *run):
                token.content = ""


def _split_tight_headings(state: StateCore) -> None:
    """`###Step 1` lines inside paragraphs become headings of their own."""
    tokens = state.tokens
    i = 0
    while i < len(tokens) - 2:
        opening, inline = tokens[i], tokens[i + 1]
        if opening.type != "paragraph_open" or "#" not in inline.content:
            i += 1
            continue
        replacement = _paragraph_as_blocks(opening, inline)
        if replacement is None:
            i += 1
            continue
        tokens[i : i + 3] = replacement
        i += len(replacement)


def _paragraph_as_blocks(opening: Token, inline: Token) -> list[Token] | None:
    blocks: list[Token] = []
    lines: list[str] = []
    found = False

    def paragraph() -> None:
        if lines:
            blocks.extend(
                _block(opening, "paragraph", "p", "\n".join(lines), hidden=opening.hidden)
            )
            lines.clear()

    for line in inline.content.split("\n"):
        match = _TIGHT_HEADING.match(line.strip())
        if match is None:
            lines.append(line)
            continue
        found = True
        paragraph()
        hashes = match.group(1)
        blocks.extend(_block(opening, "heading", f"h{len(hashes)}", match.group(2), markup=hashes))
    paragraph()
    return blocks if found else None


def _block(like: Token, kind: str, tag: str, content: str, *, markup: str = "", hidden=False):
    """Opening, inline and closing tokens of a block, where the paragraph `like` was."""
    where = {"level": like.level, "block": True, "map": like.map}
    return [
        Token(f"{kind}_open", tag, 1, markup=markup, hidden=hidden, **where),
        Token("inline", "", 0, content=content.strip(), children=[], **where),
        Token(f"{kind}_close", tag, -1, markup=markup, hidden=hidden, **where),
    ]


def _is_blank(inline: Token) -> bool:
    return all(
        child.type in ("text", "softbreak", "hardbreak") and not child.content.strip()
        for child in inline.children or []
    )


def _drop_empty_blocks(state: StateCore) -> None:
    """Headings and paragraphs with nothing left in them, and empty code blocks, go."""
    tokens = state.tokens
    drop: list[int] = []
    for i, token in enumerate(tokens):
        kind = token.type
        if kind == "inline":
            if _is_blank(token) and tokens[i - 1].type in ("heading_open", "paragraph_open"):
                drop += (i - 1, i, i + 1)
        elif kind in ("fence", "code_block") and not token.content.strip():
            drop.append(i)
    for i in reversed(drop):
        del tokens[i]


def repairs_plugin(md: MarkdownIt) -> None:
    """Use as `MarkdownIt(...).use(repairs_plugin)`."""
    md.inline.ruler.at("backticks", _backticks)
    md.inline.ruler.at("strikethrough", _noting_runs(strikethrough.tokenize, "~"))
    md.inline.ruler.at("emphasis", _noting_runs(emphasis.tokenize, "*_"))
    md.inline.ruler2.before("fragments_join", "drop_unpaired", _drop_unpaired)
    md.core.ruler.after("block", "split_tight_headings", _split_tight_headings)
    md.core.ruler.after("inline", "drop_empty_blocks", _drop_empty_blocks)

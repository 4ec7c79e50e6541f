"""How good are the configured model's plans? A fixed set of wizard cases, scored.

    python bench/quality.py                       # all cases, against the configured model
    python bench/quality.py --cases 6 --json out.json
    COACH_LOCAL_MODEL_FILE=/models/qwen2.5-1.5b-instruct-q4_k_m.gguf python bench/quality.py
    OPENAI_BASE_URL=http://localhost:11434/v1 OPENAI_API_KEY=ollama \\
        COACH_LLM_MODEL=qwen2.5:1.5b python bench/quality.py

Every starter coach gets the same kinds of cases in English and in Korean, each with a
real constraint (a time, "no pills", a budget, a bad knee...). Each case opens a session
through the wizard's own service (`sessions_app.services.session_open`, in the case's
language), and the request its turn holds (`session_chat_messages`: the coach's prompt
in that language, the typed answers, the answer-language instruction) is streamed
through `coach.llm.get_chat_client()`: what users get, with the configured model,
sampling temperature and reply length. The coaches come from the migrations, in an
in-memory SQLite database of the bench's own, so figures from two machines compare.

With the embedded model (no OPENAI_API_KEY or OPENAI_BASE_URL), an already running
`make run` model server is used; otherwise the bench starts its own on a free port,
serving COACH_LOCAL_MODEL_FILE or the SmolLM2 demo model.

Each reply is scored on:

- structure: at least 3 numbered steps, and a time on at least half of them where the
  coach asks for one per step (the meditation guide);
- cut: the model stopped at the length limit (finish_reason "length", or, from a
  server that does not say, completion tokens reaching max_tokens);
- language: answered in the case's language (Korean: at least half of the letters are
  Hangul; English: at least 90 % Latin letters);
- constraint: the reply mentions the stated constraint (keywords per case, in both
  languages);
- relevance: a word-overlap proxy, since the project has no embedding model yet. The
  reply's cosine similarity (words; Hangul as character pairs) to its own case's answers
  against the other cases' answers in the same language; relevant when its own case is
  the closest of all.

It prints one line per reply as it comes, a table, and the share of replies passing each
check; `--json` writes everything, replies included. It asserts nothing about a model:
the figures are for choosing one (docs/model.md, "Quality bench").
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# --- The cases ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    coach: str  # slug of a starter coach
    language: str  # "en" or "ko"
    state_tags: tuple[str, ...]
    state: str
    goal_tags: tuple[str, ...]
    goal: str
    misc: str
    constraint: str  # what the reply should take into account, in a few words
    keywords: tuple[str, ...]  # any of them (case-insensitive) counts as a mention


# Coaches whose prompt asks for a time on every step.
STEP_TIMES = {"meditation-guide"}

PILLS = ("pill", "medication", "medicine", "melatonin", "sleeping aid", "drug")
PILLS_KO = ("수면제", "멜라토닌", "약물", "약 없이", "약을", "알약")

CASES: tuple[Case, ...] = (
    # Meditation guide
    Case(
        "meditation-en-1", "meditation-guide", "en", ("anxious",),
        "My thoughts race as soon as I lie down.", ("deep rest",),
        "Be asleep by midnight.", "15 minutes in the evening. No sleeping pills.",
        "no pills", PILLS + PILLS_KO,
    ),
    Case(
        "meditation-en-2", "meditation-guide", "en", ("distracted",),
        "I work from home and keep checking my phone.", ("focus",),
        "Stay on one task for an hour.", "Only 5 minutes between meetings, at my desk.",
        "5 minutes", ("5 min", "5-min", "five min", "5분"),
    ),
    Case(
        "meditation-en-3", "meditation-guide", "en", ("stressed",),
        "Exams next week; my heart pounds when I study.", ("calm down",),
        "", "I can only practise on the bus to school, 20 minutes, with headphones.",
        "on the bus", ("bus", "commute", "버스"),
    ),
    Case(
        "meditation-en-4", "meditation-guide", "en", ("tired",),
        "I slump every afternoon after lunch.", ("energy back",),
        "", "10 minutes at 2 pm in an open-plan office; colleagues should not notice.",
        "in the office, unnoticed", ("office", "desk", "discreet", "colleague", "사무실"),
    ),
    Case(
        "meditation-en-5", "meditation-guide", "en", ("low",),
        "Grey winter days, I feel flat.", ("lift my mood",),
        "", "A walk outside is fine. No apps: I have no mobile data.",
        "walking, no apps", ("walk", "걷", "산책"),
    ),
    Case(
        "meditation-ko-1", "meditation-guide", "ko", ("anxious",),
        "누우면 생각이 멈추지 않아요.", ("deep rest",),
        "자정 전에 잠들고 싶어요.", "저녁에 15분 정도 할 수 있어요. 수면제는 먹고 싶지 않아요.",
        "no pills", PILLS_KO + PILLS,
    ),
    Case(
        "meditation-ko-2", "meditation-guide", "ko", ("stressed",),
        "회사에서 발표가 있어서 너무 긴장돼요.", ("calm down",),
        "", "발표 직전에 화장실에서 3분만 할 수 있어요.",
        "3 minutes", ("3분", "삼 분", "3 min"),
    ),
    Case(
        "meditation-ko-3", "meditation-guide", "ko", ("distracted",),
        "공부할 때 자꾸 휴대폰을 봐요.", ("focus",),
        "한 시간 동안 집중하고 싶어요.", "도서관에서 소리 내지 않고 10분 정도요.",
        "in a library, silently", ("도서관", "소리", "조용", "library", "silent"),
    ),
    Case(
        "meditation-ko-4", "meditation-guide", "ko", ("tired",),
        "야근이 많아서 늘 피곤해요.", ("energy back",),
        "", "점심시간에 20분, 사무실 의자에 앉아서 할 수 있어요.",
        "lunch break, in an office chair", ("점심", "의자", "사무실", "lunch", "chair"),
    ),
    Case(
        "meditation-ko-5", "meditation-guide", "ko", ("low",),
        "요즘 기분이 자꾸 가라앉아요.", ("lift my mood",),
        "", "아침 7시에 아이가 깨기 전 10분이요.",
        "7 am, before the child wakes", ("아침", "7시", "morning", "7 am", "7:00"),
    ),
    # Career coach
    Case(
        "career-en-1", "career-coach", "en", ("student",),
        "Final-year computer science student with one internship.", ("land my first job",),
        "A backend developer role.", "5 hours a week, mornings only.",
        "5 hours a week", ("5 hours", "five hours", "5-hour", "5 h ", "5시간"),
    ),
    Case(
        "career-en-2", "career-coach", "en", ("junior developer",),
        "Two years at a fintech startup.", ("get promoted",),
        "Mid-level within a year.", "No overtime: I pick up my kids at 5 pm.",
        "no overtime", ("overtime", "5 pm", "5pm", "kids", "children", "야근"),
    ),
    Case(
        "career-en-3", "career-coach", "en", ("changing careers",),
        "Teacher for 8 years.", ("switch to a new field",),
        "Become a UX designer.", "A budget of $300 in total for courses and tools.",
        "budget of $300", ("$300", "300", "budget", "free", "예산"),
    ),
    Case(
        "career-en-4", "career-coach", "en", ("stuck in my current role",),
        "Same title for four years.", ("negotiate a raise",),
        "A 10% raise.", "My review is in 6 weeks. I don't want to threaten to leave.",
        "review in 6 weeks", ("6 weeks", "six weeks", "review", "6주", "평가"),
    ),
    Case(
        "career-en-5", "career-coach", "en", ("between jobs",),
        "Laid off from a marketing role two months ago.", ("build a portfolio",),
        "Show data-driven campaigns.", "Evenings only, and I can't pay for software.",
        "no money for software", ("free", "open-source", "open source", "no-cost", "무료"),
    ),
    Case(
        "career-ko-1", "career-coach", "ko", ("student",),
        "컴퓨터공학과 4학년이고 인턴 경험이 한 번 있어요.", ("land my first job",),
        "백엔드 개발자로 취업하고 싶어요.", "일주일에 5시간, 오전에만 가능해요.",
        "5 hours a week", ("5시간", "다섯 시간", "오전", "5 hours"),
    ),
    Case(
        "career-ko-2", "career-coach", "ko", ("junior developer",),
        "스타트업에서 2년째 일하고 있어요.", ("get promoted",),
        "1년 안에 중급 개발자가 되고 싶어요.", "아이를 데리러 가야 해서 야근은 못 해요.",
        "no overtime", ("야근", "초과 근무", "아이", "퇴근", "overtime"),
    ),
    Case(
        "career-ko-3", "career-coach", "ko", ("changing careers",),
        "8년 동안 교사로 일했어요.", ("switch to a new field",),
        "UX 디자이너가 되고 싶어요.", "강의와 도구에 쓸 수 있는 예산은 모두 30만 원이에요.",
        "budget of 300,000 won", ("30만", "예산", "무료", "300,000", "budget"),
    ),
    Case(
        "career-ko-4", "career-coach", "ko", ("stuck in my current role",),
        "4년째 같은 직급이에요.", ("negotiate a raise",),
        "연봉을 10% 올리고 싶어요.", "6주 뒤에 평가가 있어요. 그만두겠다고 위협하고 싶지는 않아요.",
        "review in 6 weeks", ("6주", "평가", "6 weeks", "review"),
    ),
    Case(
        "career-ko-5", "career-coach", "ko", ("leading a team",),
        "원격으로 네 명짜리 팀을 이끌고 있어요.", ("get promoted",),
        "부서장이 되고 싶어요.", "주말에는 일하지 않아요.",
        "no work at weekends", ("주말", "평일", "weekend"),
    ),
    # Health habits coach
    Case(
        "health-en-1", "health-habits", "en", ("sleeping badly",),
        "I scroll my phone in bed until 1 am.", ("sleep better",),
        "Asleep by 11:30 pm on weekdays.", "No sleeping pills or melatonin. I share a room.",
        "no pills", PILLS + PILLS_KO,
    ),
    Case(
        "health-en-2", "health-habits", "en", ("sitting all day",),
        "Desk job, nine hours sitting.", ("move every day",),
        "", "Bad knee: no running or jumping. 10 minutes at most.",
        "bad knee", ("knee", "low-impact", "low impact", "no running", "무릎"),
    ),
    Case(
        "health-en-3", "health-habits", "en", ("eating irregularly",),
        "I skip breakfast and overeat at night.", ("eat regular meals",),
        "", "A food budget of $50 a week, and no kitchen at work.",
        "budget of $50 a week", ("$50", "budget", "cheap", "affordable", "inexpensive", "예산"),
    ),
    Case(
        "health-en-4", "health-habits", "en", ("too much screen time",),
        "Six hours a day on my phone outside work.", ("less screen time",),
        "", "I need my phone for work calls until 6 pm.",
        "phone needed until 6 pm", ("6 pm", "6pm", "work call", "after work", "6시"),
    ),
    Case(
        "health-en-5", "health-habits", "en", ("low energy",),
        "I drink five coffees a day and little else.", ("drink more water",),
        "", "I work night shifts twice a week.",
        "night shifts", ("night shift", "shift", "야간"),
    ),
    Case(
        "health-ko-1", "health-habits", "ko", ("sleeping badly",),
        "새벽 1시까지 침대에서 휴대폰을 봐요.", ("sleep better",),
        "평일에는 밤 11시 반에 잠들고 싶어요.", "수면제나 멜라토닌은 먹지 않을 거예요.",
        "no pills", PILLS_KO + PILLS,
    ),
    Case(
        "health-ko-2", "health-habits", "ko", ("sitting all day",),
        "하루에 9시간씩 앉아서 일해요.", ("move every day",),
        "", "무릎이 안 좋아서 달리기나 점프는 못 해요. 하루 10분이 최대예요.",
        "bad knee", ("무릎", "달리기", "저강도", "knee"),
    ),
    Case(
        "health-ko-3", "health-habits", "ko", ("eating irregularly",),
        "아침을 거르고 밤에 폭식해요.", ("eat regular meals",),
        "", "식비는 일주일에 5만 원이고, 회사에 주방이 없어요.",
        "budget of 50,000 won a week", ("5만", "예산", "식비", "저렴", "budget"),
    ),
    Case(
        "health-ko-4", "health-habits", "ko", ("too much screen time",),
        "퇴근 후에 6시간씩 휴대폰을 봐요.", ("less screen time",),
        "", "저녁 6시까지는 업무 전화 때문에 휴대폰이 필요해요.",
        "phone needed until 6 pm", ("6시", "업무", "퇴근", "6 pm"),
    ),
    Case(
        "health-ko-5", "health-habits", "ko", ("low energy",),
        "커피를 하루에 다섯 잔 마셔요.", ("drink more water",),
        "", "일주일에 두 번 야간 근무를 해요.",
        "night shifts", ("야간", "근무", "교대", "night shift"),
    ),
)  # fmt: skip


def case_answers(case: Case) -> str:
    """The person's own words (and chosen options): what relevance is measured against."""
    return " ".join([*case.state_tags, case.state, *case.goal_tags, case.goal, case.misc])


# --- Scoring (pure functions) ----------------------------------------------------------

# A numbered step at the start of a line: "1.", "2)", "**3.**", "### 4.", "Step 5",
# "Week 2", "2단계", "3주 차".
STEP_RE = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]*)?(?:[-*][ \t]+)?(?:\*\*|__)?"
    r"(?:\d{1,2}[.)](?!\d)|(?:step|week|day)[ \t]+\d{1,2}\b"
    r"|\d{1,2}[ \t]*(?:단계|주[ \t]*차|일[ \t]*차))",
    re.IGNORECASE | re.MULTILINE,
)
TIME_RE = re.compile(
    r"\d+(?:[.,]\d+)?(?:[ \t]*(?:-|\u2013|to|~)[ \t]*\d+)?[ \t]*"
    r"(?:min(?:ute)?s?\b|hours?\b|hrs?\b|h\b|sec(?:ond)?s?\b|분|시간|초)"
    r"|\b\d{1,2}:\d{2}\b|\b\d{1,2}[ \t]*(?:am|pm)\b|\d{1,2}[ \t]*시\b"
    r"|\b(?:one|two|three|four|five|ten|fifteen|twenty|thirty)[ \t-]+"
    r"(?:minutes?|hours?|seconds?)\b",
    re.IGNORECASE,
)
HANGUL_RE = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
LATIN_RE = re.compile(r"[A-Za-z\u00c0-\u024f]")
WORD_RE = re.compile(r"[A-Za-z\u00c0-\u024f]+|[\uac00-\ud7a3]+")
_STOPWORDS = """a an and are as at be but by can do for from have i if in into is it its me my
    no not of on or so that the then this to up with you your will would should could
    than too very just only also been being was were what when which who how all any
    each more most other some such own same here there about after before again"""
STOPWORDS = frozenset(_STOPWORDS.split())


def numbered_steps(text: str) -> list[str]:
    """The lines of `text` that start a numbered step."""
    return [line for line in text.splitlines() if STEP_RE.match(line)]


def has_time(text: str) -> bool:
    return bool(TIME_RE.search(text))


def usable_structure(text: str, *, step_times: bool) -> bool:
    """At least 3 numbered steps; with `step_times`, at least half of them give a time."""
    steps = numbered_steps(text)
    if len(steps) < 3:
        return False
    if not step_times:
        return True
    return sum(has_time(step) for step in steps) * 2 >= len(steps)


def hangul_share(text: str) -> float:
    """Share of Hangul among the letters of `text` (0 when it has none)."""
    letters = [char for char in text if char.isalpha()]
    if not letters:
        return 0.0
    return sum(bool(HANGUL_RE.match(char)) for char in letters) / len(letters)


def latin_share(text: str) -> float:
    letters = [char for char in text if char.isalpha()]
    if not letters:
        return 0.0
    return sum(bool(LATIN_RE.match(char)) for char in letters) / len(letters)


def in_language(text: str, language: str) -> bool:
    """Korean: at least half the letters Hangul. English: at least 90 % Latin letters."""
    if language == "ko":
        return hangul_share(text) >= 0.5
    return latin_share(text) >= 0.9


def mentions(text: str, keywords: Sequence[str]) -> bool:
    folded = text.casefold()
    return any(keyword.casefold() in folded for keyword in keywords)


def cut_short(finish_reason: str, completion_tokens: int | None, max_tokens: int) -> bool:
    """Stopped at the length limit; without a finish reason, by the token count."""
    if finish_reason:
        return finish_reason == "length"
    return completion_tokens is not None and completion_tokens >= max_tokens


def terms(text: str) -> Counter[str]:
    """Words for the overlap proxy: Latin words (lower case, no stop words, a plural s
    dropped) and, since Korean glues endings to words, Hangul as character pairs."""
    counts: Counter[str] = Counter()
    for word in WORD_RE.findall(text.casefold()):
        if HANGUL_RE.match(word):
            if len(word) == 1:
                counts[word] += 1
            counts.update(word[i : i + 2] for i in range(len(word) - 1))
        elif len(word) > 2 and word not in STOPWORDS:
            counts[word[:-1] if word.endswith("s") and len(word) > 3 else word] += 1
    return counts


def cosine(a: Counter[str], b: Counter[str]) -> float:
    if not a or not b:
        return 0.0
    dot = sum(count * b[term] for term, count in a.items())
    norm = math.sqrt(sum(c * c for c in a.values())) * math.sqrt(sum(c * c for c in b.values()))
    return dot / norm


@dataclass(frozen=True)
class Relevance:
    own: float  # similarity to its own case's answers
    others: float  # mean similarity to the other cases' answers (same language)
    closest: bool  # its own case is the closest of all

    @property
    def margin(self) -> float:
        return self.own - self.others


def relevance(reply: str, own: str, others: Sequence[str]) -> Relevance:
    reply_terms = terms(reply)
    own_score = cosine(reply_terms, terms(own))
    other_scores = [cosine(reply_terms, terms(text)) for text in others]
    return Relevance(
        own=own_score,
        others=statistics.mean(other_scores) if other_scores else 0.0,
        closest=own_score > 0 and all(own_score > score for score in other_scores),
    )


@dataclass
class Result:
    case: str
    coach: str
    language: str
    constraint: str
    reply: str = ""
    model: str = ""
    error: str = ""
    seconds: float = 0.0
    first_piece_seconds: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = ""
    steps: int = 0
    structure: bool = False
    cut: bool = False
    language_ok: bool = False
    hangul: float = 0.0
    constraint_ok: bool = False
    relevance_own: float = 0.0
    relevance_others: float = 0.0
    relevant: bool = False


CHECKS = {
    "structure": "usable structure (numbered steps, times where asked)",
    "cut": "cut off by length",
    "language_ok": "answered in the language asked",
    "constraint_ok": "mentions the stated constraint",
    "relevant": "relevant (own case closest, word-overlap proxy)",
}


def score(
    case: Case,
    *,
    reply: str,
    finish_reason: str,
    completion_tokens: int | None,
    max_tokens: int,
    others: Sequence[Case],
) -> dict[str, Any]:
    """Every check for one reply; `others` are the other cases (same language is used)."""
    related = [c for c in others if c.language == case.language and c.id != case.id]
    rel = relevance(reply, case_answers(case), [case_answers(c) for c in related])
    return {
        "steps": len(numbered_steps(reply)),
        "structure": usable_structure(reply, step_times=case.coach in STEP_TIMES),
        "cut": cut_short(finish_reason, completion_tokens, max_tokens),
        "language_ok": in_language(reply, case.language),
        "hangul": round(hangul_share(reply), 3),
        "constraint_ok": mentions(reply, case.keywords),
        "relevance_own": round(rel.own, 3),
        "relevance_others": round(rel.others, 3),
        "relevant": rel.closest,
    }


def summary(results: Sequence[Result]) -> dict[str, Any]:
    """Shares of the answered replies passing each check, overall and per language."""
    answered = [r for r in results if not r.error]

    def shares(rows: Sequence[Result]) -> dict[str, float | None]:
        return {
            check: (round(sum(getattr(r, check) for r in rows) / len(rows), 3) if rows else None)
            for check in CHECKS
        }

    return {
        "cases": len(results),
        "answered": len(answered),
        "errors": len(results) - len(answered),
        "all": shares(answered),
        "en": shares([r for r in answered if r.language == "en"]),
        "ko": shares([r for r in answered if r.language == "ko"]),
        "median_seconds": round(statistics.median(r.seconds for r in answered), 1)
        if answered
        else None,
        "median_completion_tokens": statistics.median(
            r.completion_tokens for r in answered if r.completion_tokens is not None
        )
        if any(r.completion_tokens is not None for r in answered)
        else None,
        "relevance_margin": round(
            statistics.mean(r.relevance_own - r.relevance_others for r in answered), 3
        )
        if answered
        else None,
    }


# --- Running ----------------------------------------------------------------------------


def case_messages(case: Case) -> list:
    """The first request of a session for `case`, exactly as the app builds it: the wizard
    opens the session (`session_open`, in the case's language) and the turn says what
    the model is sent. One user per case, in the bench's own database."""
    from django.contrib.auth import get_user_model

    from coach.models import Coach
    from sessions_app.services import PromptAnswer, session_open

    user_model = get_user_model()
    user = user_model.objects.create_user(
        username=f"bench-{case.id}-{user_model.objects.count()}", password=None
    )
    turn = session_open(
        user=user,
        coach=Coach.objects.get(slug=case.coach),
        current_state=PromptAnswer(tags=list(case.state_tags), text=case.state),
        goal=PromptAnswer(tags=list(case.goal_tags), text=case.goal),
        misc=PromptAnswer(tags=[], text=case.misc),
        language=case.language,
        claim=True,
    )
    return turn.chat


def run_case(client: Any, case: Case, *, max_tokens: int) -> Result:
    """One case, streamed as the app streams it (the time-out applies between pieces)."""
    from coach.llm import LLMError, ReplyChunk

    result = Result(
        case=case.id, coach=case.coach, language=case.language, constraint=case.constraint
    )
    started = time.monotonic()
    pieces = 0
    reply = None
    try:
        for item in client.stream(case_messages(case)):
            if isinstance(item, ReplyChunk):
                pieces += 1
                if pieces == 1:
                    result.first_piece_seconds = round(time.monotonic() - started, 1)
            else:
                reply = item
    except LLMError as exc:
        result.error = str(exc)
    result.seconds = round(time.monotonic() - started, 1)
    if reply is None:
        result.error = result.error or "no reply"
        return result
    result.reply = reply.content
    result.model = reply.model
    result.prompt_tokens = reply.prompt_tokens
    # llama.cpp reports no usage on a stream; there, one piece is one token.
    result.completion_tokens = (
        reply.completion_tokens if reply.completion_tokens is not None else pieces
    )
    # Reply.finish_reason is new; a client without it falls back to the token count.
    result.finish_reason = getattr(reply, "finish_reason", "") or ""
    for name, value in score(
        case,
        reply=reply.content,
        finish_reason=result.finish_reason,
        completion_tokens=result.completion_tokens,
        max_tokens=max_tokens,
        others=CASES,
    ).items():
        setattr(result, name, value)
    return result


def mark(value: bool) -> str:
    return "yes" if value else "-"


def result_line(result: Result) -> str:
    if result.error:
        return f"{result.case:<16} error: {result.error}"
    tokens = result.completion_tokens if result.completion_tokens is not None else "?"
    return (
        f"{result.case:<16} {mark(result.structure):>6} {mark(result.cut):>4} "
        f"{mark(result.language_ok):>5} {mark(result.constraint_ok):>10} "
        f"{mark(result.relevant):>8} {result.relevance_own:>5.2f}/{result.relevance_others:<5.2f}"
        f" {result.steps:>5} {tokens:>6} {result.seconds:>6.1f}"
    )


HEADER = (
    f"{'case':<16} {'struct':>6} {'cut':>4} {'lang':>5} {'constraint':>10} "
    f"{'relevant':>8} {'own/others':>11} {'steps':>5} {'tokens':>6} {'secs':>6}"
)


def print_summary(results: Sequence[Result], info: dict[str, Any]) -> None:
    figures = summary(results)
    print()
    print(HEADER)
    for result in results:
        print(result_line(result))
    print()
    print(
        f"Model: {info['model']} ({info['endpoint']}), max_tokens {info['max_tokens']}, "
        f"temperature {info['temperature']}"
    )
    print(
        f"{figures['answered']} of {figures['cases']} cases answered"
        + (f", {figures['errors']} errors" if figures["errors"] else "")
        + f"; median {figures['median_seconds']} s and "
        f"{figures['median_completion_tokens']} tokens a reply"
    )
    print(f"{'share of replies':<58} {'all':>5} {'en':>5} {'ko':>5}")
    for check, label in CHECKS.items():
        row = [figures[part][check] for part in ("all", "en", "ko")]
        cells = " ".join(f"{value:>5.0%}" if value is not None else f"{'-':>5}" for value in row)
        print(f"{label:<58} {cells}")
    print(f"relevance margin (own minus others, mean): {figures['relevance_margin']}")


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    # The starter coaches from the migrations, in a database of our own.
    os.environ["DATABASE_URL"] = "sqlite://:memory:"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def local_endpoint(stack: Any, settings: Any, log: Any) -> str:
    """The embedded model: the running `make run` server, or one of our own."""
    from coach import local_server

    port = settings.COACH_LOCAL_LLM_PORT
    if local_server.is_ready(port):
        return f"the running model server on port {port}"
    info = local_server.model_info(settings.COACH_LOCAL_MODEL_FILE or None)
    n_ctx = local_server.resolve_context(info, settings.COACH_LOCAL_CONTEXT)
    print(f"Starting a model server for {info.path.name} (context {n_ctx})…", flush=True)
    server = stack.enter_context(
        local_server.start_server(
            model_alias=settings.COACH_LLM_MODEL, model=info.path, n_ctx=n_ctx, log=log
        )
    )
    settings.OPENAI_BASE_URL = server.base_url
    if "COACH_LLM_CONTEXT_TOKENS" not in os.environ:  # as runlocal tells the web server
        settings.COACH_LLM_CONTEXT_TOKENS = n_ctx
    return f"{info.path.name}, context {n_ctx}, started for the bench"


def selected(count: int | None) -> list[Case]:
    """The first `count` cases taken in turn from each coach and language, so that a
    short run still covers every coach in both languages."""
    groups: dict[tuple[str, str], list[Case]] = {}
    for case in CASES:
        groups.setdefault((case.coach, case.language), []).append(case)
    interleaved = [case for row in zip(*groups.values(), strict=False) for case in row]
    return interleaved[:count] if count else list(CASES)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=None, help="run only this many cases")
    parser.add_argument("--json", type=Path, default=None, help="write the raw results here")
    parser.add_argument(
        "--max-tokens", type=int, default=None, help="default: COACH_LLM_MAX_TOKENS (600)"
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="default: COACH_LLM_TIMEOUT (between pieces)"
    )
    args = parser.parse_args(argv)

    setup_django()
    import contextlib
    import logging
    import signal
    import tempfile

    # `kill` stops the model server we started too (the context manager's exit runs).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    from django.conf import settings

    from coach.llm import get_chat_client, reset_chat_client

    logging.getLogger("coach").setLevel(logging.WARNING)  # no line per reply
    if args.max_tokens:
        settings.COACH_LLM_MAX_TOKENS = args.max_tokens
    if args.timeout:
        settings.COACH_LLM_TIMEOUT = args.timeout
    cases = selected(args.cases)
    with contextlib.ExitStack() as stack:
        if settings.COACH_LLM_USES_LOCAL_SERVER:
            log = stack.enter_context(tempfile.TemporaryFile())
            endpoint = local_endpoint(stack, settings, log)
        else:
            endpoint = settings.OPENAI_BASE_URL or "OpenAI"
        reset_chat_client()
        client = get_chat_client()
        info = {
            "model": settings.COACH_LLM_MODEL,
            "endpoint": endpoint,
            "max_tokens": settings.COACH_LLM_MAX_TOKENS,
            "temperature": getattr(settings, "COACH_LLM_TEMPERATURE", None),
            "context_tokens": settings.COACH_LLM_CONTEXT_TOKENS,
            "cpu_count": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d"),
        }
        print(f"{len(cases)} cases against {info['model']} ({endpoint})", flush=True)
        print(HEADER, flush=True)
        results = []
        for case in cases:
            result = run_case(client, case, max_tokens=settings.COACH_LLM_MAX_TOKENS)
            results.append(result)
            print(result_line(result), flush=True)
    print_summary(results, info)
    if args.json:
        payload = {
            "info": info,
            "summary": summary(results),
            "results": [asdict(r) for r in results],
        }
        args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        print(f"Raw results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

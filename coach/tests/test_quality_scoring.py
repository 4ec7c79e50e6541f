"""bench/quality.py's scoring: pure functions over reply texts, on replies small models wrote."""

from __future__ import annotations

import pytest

from bench import quality
from bench.quality import CASES, Result

GOOD_PLAN = """**4-7-8 breathing** calms a racing mind.

1. Lie down and close your eyes (1 min).
2. Breathe in for 4, hold for 7, out for 8 (3 minutes).
3. Scan your body from toes to head (8 min).
4. Rest and let sleep come.

No pills needed: this works on its own."""

SMOLLM2_REPLY = """## What I want
Deep rest, no sleep.
you could look around and see what the rest of your life is like in 24/7-worlds"""

KOREAN_PLAN = """**4-7-8 호흡**이 불안한 마음을 가라앉혀요.

1. 누워서 눈을 감으세요 (1분).
2. 4초 들이쉬고 7초 참고 8초 내쉬세요 (3분).
3. 발끝부터 머리까지 몸을 살펴보세요 (8분).

수면제 없이도 충분해요."""


def test_every_coach_in_both_languages_with_a_constraint():
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)
    coaches = {"meditation-guide", "career-coach", "health-habits"}
    assert {(case.coach, case.language) for case in CASES} == {
        (coach, language) for coach in coaches for language in ("en", "ko")
    }
    for case in CASES:
        assert case.keywords and case.constraint, case.id
        assert quality.in_language(case.state + case.misc, case.language), case.id


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        (GOOD_PLAN, 4),
        (KOREAN_PLAN, 3),
        ("### Step 1: Choose a time\nStep 2 - breathe\n**3.** Rest", 3),
        ("Week 1: update the CV\nWeek 2: apply\n- Week 3: interviews", 3),
        ("1단계: 준비\n2단계: 호흡\n3 주 차: 반복", 3),
        (SMOLLM2_REPLY, 0),
        ("In 2024. I moved. 3.5 km is far.", 0),  # years, decimals mid-sentence
    ],
)
def test_numbered_steps(text, steps):
    assert len(quality.numbered_steps(text)) == steps


def test_usable_structure_wants_times_only_where_the_coach_asks():
    untimed = "1. Update your CV.\n2. Apply to five jobs.\n3. Ask for feedback."

    assert quality.usable_structure(GOOD_PLAN, step_times=True)
    assert quality.usable_structure(KOREAN_PLAN, step_times=True)
    assert quality.usable_structure(untimed, step_times=False)
    assert not quality.usable_structure(untimed, step_times=True)
    assert not quality.usable_structure("1. Breathe (2 min).\n2. Rest.", step_times=False)
    assert not quality.usable_structure(SMOLLM2_REPLY, step_times=False)


@pytest.mark.parametrize(
    "text",
    ["for 5 minutes", "(10 min)", "2-3 mins", "at 9:30", "at 7 pm", "ten minutes", "5분", "1시간"],
)
def test_times(text):
    assert quality.has_time(text)


@pytest.mark.parametrize("text", ["Breathe slowly.", "Step 2", "in 2024", "4-7-8 breathing"])
def test_no_times(text):
    assert not quality.has_time(text)


def test_language():
    assert quality.in_language(KOREAN_PLAN, "ko")
    assert not quality.in_language(KOREAN_PLAN, "en")
    assert quality.in_language(GOOD_PLAN, "en")
    assert not quality.in_language(GOOD_PLAN, "ko")
    # SmolLM2 asked in Korean: a few syllables, then English.
    drifted = "**3-4 왔 느린 아니체 **\n## Where I am now\nI have nothing, but the thing that is"
    assert not quality.in_language(drifted, "ko")
    assert quality.hangul_share(drifted) < 0.2
    assert not quality.in_language("", "en")
    assert not quality.in_language("好的 我们开始冥想", "en")


def test_constraint_mentions_in_either_language():
    keywords = quality.PILLS + quality.PILLS_KO

    assert quality.mentions(GOOD_PLAN, keywords)
    assert quality.mentions(KOREAN_PLAN, keywords)
    assert not quality.mentions(SMOLLM2_REPLY, keywords)
    assert quality.mentions("Try MELATONIN-free routines", keywords)


@pytest.mark.parametrize(
    ("finish_reason", "tokens", "cut"),
    [
        ("length", 600, True),
        ("stop", 600, False),  # the server says why: it is believed
        ("", 600, True),  # it does not say: the token count tells
        ("", 599, False),
        ("", None, False),
    ],
)
def test_cut_short(finish_reason, tokens, cut):
    assert quality.cut_short(finish_reason, tokens, 600) is cut


def test_terms_split_korean_into_pairs_and_drop_stop_words():
    assert quality.terms("The walks and the walk") == {"walk": 2}
    assert quality.terms("수면제 없이") == {"수면": 1, "면제": 1, "없이": 1}


def test_relevance_prefers_the_own_case():
    own = "anxious, thoughts race when I lie down, deep rest, asleep by midnight, no pills"
    others = ["student, land my first job, backend developer", "knee pain, move every day"]

    rel = quality.relevance("Before midnight, lie down; let racing thoughts rest.", own, others)

    assert rel.closest
    assert rel.own > rel.others
    assert rel.margin == pytest.approx(rel.own - rel.others)
    off_topic = quality.relevance("Update your backend developer CV for a first job.", own, others)
    assert not off_topic.closest
    assert not quality.relevance("", own, others).closest


def test_score_of_a_good_and_a_bad_reply():
    case = next(c for c in CASES if c.id == "meditation-en-1")

    good = quality.score(
        case,
        reply=GOOD_PLAN + "\nLie down before midnight when thoughts race.",
        finish_reason="stop",
        completion_tokens=120,
        max_tokens=600,
        others=CASES,
    )
    bad = quality.score(
        case,
        reply=SMOLLM2_REPLY,
        finish_reason="length",
        completion_tokens=600,
        max_tokens=600,
        others=CASES,
    )

    assert good["structure"] and good["language_ok"] and good["constraint_ok"]
    assert good["relevant"] and not good["cut"]
    assert not bad["structure"] and not bad["constraint_ok"] and bad["cut"]


def test_summary_shares_leave_errors_out():
    def result(language: str, **checks: bool) -> Result:
        return Result(case="c", coach="career-coach", language=language, constraint="x", **checks)

    results = [
        result("en", structure=True, language_ok=True),
        result("ko", structure=False, language_ok=True, cut=True),
        Result(case="e", coach="career-coach", language="ko", constraint="x", error="timed out"),
    ]

    figures = quality.summary(results)

    assert (figures["cases"], figures["answered"], figures["errors"]) == (3, 2, 1)
    assert figures["all"]["structure"] == 0.5
    assert figures["all"]["language_ok"] == 1.0
    assert figures["ko"]["cut"] == 1.0
    assert figures["en"]["cut"] == 0.0


def test_a_short_run_covers_every_coach_and_language():
    first = quality.selected(6)

    assert len({(case.coach, case.language) for case in first}) == 6
    assert quality.selected(None) == list(CASES)


# --- The requests and a run, against the fake model ------------------------------------


@pytest.mark.django_db
def test_every_case_is_a_request_the_wizard_accepts():
    for case in CASES:
        messages = quality.case_messages(case)

        assert messages[0]["role"] == "system", case.id
        assert messages[-1]["role"] == "user", case.id
        assert case.state in messages[-1]["content"], case.id
        if case.language == "ko":
            assert quality.hangul_share(messages[0]["content"]) > 0.3, case.id


@pytest.mark.django_db
def test_run_case_scores_what_the_model_streamed():
    from coach.llm import LLMTimeout
    from coach.testing.fakes import CutShort, FakeChatClient

    case = next(c for c in CASES if c.id == "meditation-en-1")
    client = FakeChatClient(GOOD_PLAN, CutShort("1. Lie down"), LLMTimeout())

    good = quality.run_case(client, case, max_tokens=600)
    cut = quality.run_case(client, case, max_tokens=600)
    failed = quality.run_case(client, case, max_tokens=600)

    assert good.reply == GOOD_PLAN and good.model == "fake-model"
    assert good.structure and good.constraint_ok and good.language_ok and not good.cut
    assert good.first_piece_seconds is not None
    assert cut.cut and cut.finish_reason == "length"
    assert failed.error and not failed.reply
    assert client.calls[0][-1]["content"].startswith("## Where I am now")
    assert quality.summary([good, cut, failed])["errors"] == 1

from pathlib import Path

from coach.management.commands.erd import render_erd

ERD = Path(__file__).resolve().parents[2] / "docs" / "erd.md"


def test_committed_erd_matches_models():
    assert ERD.read_text() == render_erd(), "docs/erd.md is stale: run `make erd` and commit it"


def test_erd_shows_every_relation():
    text = render_erd()
    for line in (
        'User ||--o{ CoachingSession : "owner"',
        'Coach ||--o{ CoachingSession : "coach"',
        'CoachingSession ||--o{ Prompt : "session"',
        'CoachingSession ||--o{ Message : "session"',
        'User ||--o{ DailyUsage : "user"',
    ):
        assert line in text

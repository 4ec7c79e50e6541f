"""The inverted-file index: grouped rows, probes, and recall against exact search on
clustered vectors (like real embeddings: topics)."""

import numpy as np
import pytest

from knowledge import ivf


def clustered(n: int, dims: int = 32, topics: int = 40, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((topics, dims))
    rows = centers[rng.integers(0, topics, n)] + 0.35 * rng.standard_normal((n, dims))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows.astype("<f4")


def test_every_row_is_in_exactly_one_list():
    matrix = clustered(2000)
    index = ivf.build(matrix)
    assert index.offsets[0] == 0 and index.offsets[-1] == len(matrix)
    assert sorted(index.order.tolist()) == list(range(len(matrix)))
    assert np.array_equal(index.matrix, matrix[index.order])
    assert len(index.centroids) == round(np.sqrt(len(matrix)))


def test_recall_against_exact_search():
    matrix = clustered(5000)
    index = ivf.build(matrix)
    queries = clustered(50, seed=9)
    found = 0
    for query in queries:
        exact = set(np.argsort(-(matrix @ query))[:8].tolist())
        positions, scores = ivf.search(index, query, limit=8)
        assert list(scores) == sorted(scores, reverse=True)
        found += len(exact & set(index.order[positions].tolist()))
    assert found / (8 * len(queries)) >= 0.9


@pytest.mark.parametrize("n", [1, 3, 10])
def test_tiny_matrices(n):
    matrix = clustered(n)
    index = ivf.build(matrix)
    positions, _scores = ivf.search(index, matrix[0], limit=5)
    assert index.order[positions[0]] == 0


def test_large_libraries_use_it_and_still_find_the_passage(coach, fake_embeddings, settings):
    from knowledge import selectors
    from knowledge.selectors import _index, indexes_clear, passages_search
    from knowledge.services import document_load
    from knowledge.testing import bag_of_words

    settings.COACH_KNOWLEDGE_EXACT_MAX = 3
    text = "\n\n".join(f"# Part {i}\n\nTopic {i} words number{i} here." for i in range(12))
    document_load(coach=coach, name="big.md", content=text)
    indexes_clear()

    # The first search is exact, while the inverted file is built in a thread.
    hits = passages_search(query_vector=bag_of_words("number7"), coach_id=coach.pk, limit=3)
    assert hits and hits[0].heading_path.endswith("Part 7")
    building = selectors._grouping.get(coach.pk)
    if building is not None:
        building.join(timeout=10)

    hits = passages_search(query_vector=bag_of_words("number7"), coach_id=coach.pk, limit=3)

    assert _index(coach.pk).ivf is not None
    assert hits and hits[0].heading_path.endswith("Part 7")

"""An inverted-file index for large libraries searched in process (pure numpy).

Exact search reads every vector: 100,000 x 384 float32 is 154 MB per query, about 22 ms
of memory bandwidth on a small server. Above COACH_KNOWLEDGE_EXACT_MAX passages the
matrix is split into about sqrt(n) lists by spherical k-means (trained on a sample), each
list's rows stored together; a query scores the centroids, then only the rows of its
`probes` nearest lists (about 8 % of them). It is approximate: a passage whose list is
not probed is missed (bench/knowledge.py measures the recall against exact search).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SAMPLE_PER_LIST = 40
ITERATIONS = 6
PROBE_SHARE = 0.08
MIN_PROBES = 4
ASSIGN_CHUNK = 16_384


@dataclass(frozen=True)
class Ivf:
    centroids: np.ndarray  # (lists, dims), unit length
    offsets: np.ndarray  # (lists + 1,): list i is rows offsets[i]:offsets[i + 1]
    order: np.ndarray  # (n,): the original position of each grouped row
    matrix: np.ndarray  # (n, dims): the rows grouped by list

    @property
    def probes(self) -> int:
        lists = len(self.centroids)
        return min(lists, max(MIN_PROBES, math.ceil(lists * PROBE_SHARE)))


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(matrix.dtype, copy=False)


def _assign(matrix: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    labels = np.empty(len(matrix), dtype=np.int64)
    for start in range(0, len(matrix), ASSIGN_CHUNK):
        part = matrix[start : start + ASSIGN_CHUNK]
        labels[start : start + len(part)] = np.argmax(part @ centroids.T, axis=1)
    return labels


def build(matrix: np.ndarray, *, lists: int | None = None, seed: int = 0) -> Ivf:
    """The index of `matrix` (unit rows). Deterministic for a given seed."""
    n = len(matrix)
    lists = max(1, min(n, lists or round(math.sqrt(n))))
    rng = np.random.default_rng(seed)
    sample = matrix[np.sort(rng.choice(n, size=min(n, lists * SAMPLE_PER_LIST), replace=False))]
    centroids = sample[rng.choice(len(sample), size=lists, replace=False)].copy()
    for _ in range(ITERATIONS):
        labels = _assign(sample, centroids)
        sums = np.zeros_like(centroids)
        np.add.at(sums, labels, sample)
        filled = np.bincount(labels, minlength=lists) > 0
        centroids[filled] = _unit_rows(sums[filled])  # an empty list keeps its centroid
    labels = _assign(matrix, centroids)
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels, minlength=lists)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return Ivf(
        centroids=centroids,
        offsets=offsets,
        order=order,
        matrix=np.ascontiguousarray(matrix[order]),
    )


def search(ivf: Ivf, query: np.ndarray, *, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """(grouped row positions, scores) of the best `limit` rows among the probed lists,
    best first. Map positions to the original ones with `ivf.order`."""
    near = ivf.centroids @ query
    probes = ivf.probes
    chosen = np.argpartition(-near, probes - 1)[:probes] if probes < len(near) else range(len(near))
    positions = []
    scores = []
    for i in chosen:
        start, end = int(ivf.offsets[i]), int(ivf.offsets[i + 1])
        if end > start:
            positions.append(np.arange(start, end))
            scores.append(ivf.matrix[start:end] @ query)
    if not scores:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    all_positions = np.concatenate(positions)
    all_scores = np.concatenate(scores)
    count = min(limit, len(all_scores))
    top = np.argpartition(-all_scores, count - 1)[:count]
    top = top[np.argsort(-all_scores[top], kind="stable")]
    return all_positions[top], all_scores[top]

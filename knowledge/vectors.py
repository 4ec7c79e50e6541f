"""Embeddings as stored: float32, little-endian, unit length (so a dot product is the
cosine similarity)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DTYPE = np.dtype("<f4")


def unit(vector: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(vector, dtype=DTYPE)
    norm = float(np.linalg.norm(array))
    return array / norm if norm > 0 else array


def to_bytes(vector: Sequence[float] | np.ndarray) -> bytes:
    return unit(vector).astype(DTYPE).tobytes()


def from_bytes(data: bytes | memoryview) -> np.ndarray:
    return np.frombuffer(bytes(data), dtype=DTYPE)


def matrix(rows: Sequence[bytes | memoryview]) -> np.ndarray:
    """Stored embeddings as one (n, dim) matrix; rows of another length are an error."""
    if not rows:
        return np.zeros((0, 0), dtype=DTYPE)
    return np.frombuffer(b"".join(bytes(row) for row in rows), dtype=DTYPE).reshape(len(rows), -1)

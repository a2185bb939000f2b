"""Near duplicates of training questions: word 5-gram shingles and their Jaccard similarity.

The generator keeps the shingle hashes of its training questions (no text) and drops a
generated item whose Jaccard similarity with any of them reaches ``max_jaccard``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file


def words(text: str) -> list[str]:
    """Lower-cased word tokens (``\\w+``) of ``text``: the unit of shingles and shared n-grams."""
    return re.findall(r"\w+", text.lower())


def shingles(text: str, size: int = 5) -> np.ndarray:
    """Sorted unique uint64 hashes (blake2b) of the word ``size``-grams of ``text`` (the whole
    text as one shingle when it has fewer words)."""
    w = words(text)
    grams = {" ".join(w[i : i + size]) for i in range(max(1, len(w) - size + 1))} if w else set()
    return np.unique(np.array(
        [int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little")
         for g in grams], dtype=np.uint64))


class NearDuplicateIndex:
    """Inverted index of shingle hashes of reference texts (no text is stored).

    ``max_jaccard(text)`` is the largest Jaccard similarity ``|S & R| / |S | R|`` between the
    shingle set ``S`` of ``text`` and that of any reference text ``R``.
    """

    def __init__(self, hashes: np.ndarray, docs: np.ndarray, sizes: np.ndarray, size: int = 5):
        order = np.argsort(hashes, kind="stable")
        self.hashes = np.asarray(hashes, np.uint64)[order]
        self.docs = np.asarray(docs, np.int64)[order]
        self.sizes = np.asarray(sizes, np.int64)
        self.size = int(size)

    @classmethod
    def from_texts(cls, texts: Iterable[str], size: int = 5) -> NearDuplicateIndex:
        sets = [shingles(t, size) for t in texts]
        hashes = np.concatenate(sets) if sets else np.zeros(0, np.uint64)
        docs = np.concatenate([np.full(len(s), i) for i, s in enumerate(sets)]) if sets else []
        return cls(hashes, np.asarray(docs, np.int64), np.array([len(s) for s in sets]), size)

    def __len__(self) -> int:
        return len(self.sizes)

    def max_jaccard(self, text: str) -> float:
        s = shingles(text, self.size)
        if len(s) == 0 or len(self.sizes) == 0:
            return 0.0
        left = np.searchsorted(self.hashes, s, "left")
        right = np.searchsorted(self.hashes, s, "right")
        hit = np.concatenate([self.docs[a:b] for a, b in zip(left, right, strict=True)])
        if len(hit) == 0:
            return 0.0
        inter = np.bincount(hit, minlength=len(self.sizes))
        union = len(s) + self.sizes - inter
        return float((inter / np.maximum(union, 1)).max())

    def save(self, path: str | Path) -> None:
        save_file({"hashes": self.hashes, "docs": self.docs, "sizes": self.sizes,
                   "shingle_size": np.array([self.size], np.int64)}, str(path))

    @classmethod
    def load(cls, path: str | Path) -> NearDuplicateIndex:
        t = load_file(str(path))
        return cls(t["hashes"], t["docs"], t["sizes"], int(t["shingle_size"][0]))

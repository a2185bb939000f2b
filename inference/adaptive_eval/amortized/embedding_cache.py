"""Question-text embeddings on disk, keyed by the text's SHA-256, one folder per encoder.

Embedding every question of a bank takes minutes on a CPU; the predictor embeds each text once
and reads it back from here afterwards.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def text_key(text: str) -> str:
    """Cache key of a text: SHA-256 of its UTF-8 bytes, hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Embeddings on disk, keyed by :func:`text_key`, for one encoder fingerprint.

    A folder of ``shard-*.npz`` files, each with ``keys`` (``S64``, hex SHA-256) and
    ``embeddings`` (float32, one row per key); written atomically (temp file + rename), merged
    into one shard when more than ``max_shards`` pile up. No pickle.
    """

    def __init__(self, folder: Path, max_shards: int = 32) -> None:
        self.folder = Path(folder)
        self.max_shards = max_shards

    def _shards(self) -> list[Path]:
        return sorted(self.folder.glob("shard-*.npz"))

    def load(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for shard in self._shards():
            try:
                with np.load(shard, allow_pickle=False) as z:
                    keys, emb = z["keys"], z["embeddings"]
            except (FileNotFoundError, OSError, ValueError, KeyError):
                continue  # merged away by another process, or half-written by a crash
            out.update(zip((k.decode() for k in keys), emb, strict=True))
        return out

    def save(self, keys: Sequence[str], embeddings: np.ndarray) -> None:
        if len(keys) == 0:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write(list(keys), np.asarray(embeddings, dtype=np.float32))
        shards = self._shards()
        if len(shards) > self.max_shards:
            everything = self.load()
            self._write(list(everything), np.stack(list(everything.values())))
            for shard in shards:
                shard.unlink(missing_ok=True)

    def _write(self, keys: list[str], embeddings: np.ndarray) -> None:
        name = f"shard-{time.time_ns()}-{uuid.uuid4().hex[:8]}"
        tmp = self.folder / f".{name}.tmp.npz"
        np.savez(tmp, keys=np.array(keys, dtype="S64"), embeddings=embeddings)
        os.replace(tmp, self.folder / f"{name}.npz")

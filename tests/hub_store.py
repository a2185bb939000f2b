"""The test Hub's storage (tests/hub_server.py): repositories and blobs on disk.

- ``ROOT/blobs/<git-sha1>``: file contents, content-addressed (the git blob hash is the Hub's
  ETag);
- ``ROOT/repos/<type>s/<namespace>/<name>.json``: visibility, branches, tags and every commit
  (parent, message, and the full tree ``{path: blob sha1}``).

``HubError`` is an HTTP error answer of the server (status, ``X-Error-Code``, message).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
EMPTY_TREE: dict[str, str] = {}


def git_blob_sha1(data: bytes) -> str:
    """The git blob hash of ``data`` (``git hash-object``): the Hub's ETag for a regular file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class HubError(Exception):
    """An HTTP error answer: status, ``X-Error-Code`` (may be empty) and message."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


@dataclass
class Repo:
    """One repository: visibility, refs and commits (each with its full tree)."""

    repo_type: str
    repo_id: str
    private: bool = False
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    commits: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_at: str = ""

    def resolve(self, revision: str) -> str:
        """Commit sha of a branch, a tag or an (abbreviated) commit sha; else RevisionNotFound."""
        if revision in self.branches:
            return self.branches[revision]
        if revision in self.tags:
            return self.tags[revision]
        matches = [sha for sha in self.commits if len(revision) >= 7 and sha.startswith(revision)]
        if len(matches) == 1:
            return matches[0]
        raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")


class HubStore:
    """Repositories and blobs on disk under ``root``; thread-safe through one lock."""

    def __init__(self, root: Path):
        self.root = Path(root)
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        (self.root / "repos").mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()

    def _repo_file(self, repo_type: str, repo_id: str) -> Path:
        return self.root / "repos" / f"{repo_type}s" / f"{repo_id}.json"

    def get(self, repo_type: str, repo_id: str) -> Repo | None:
        path = self._repo_file(repo_type, repo_id)
        if not path.exists():
            return None
        return Repo(**json.loads(path.read_text()))

    def save(self, repo: Repo) -> None:
        path = self._repo_file(repo.repo_type, repo.repo_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(repo.__dict__, indent=1))
        tmp.replace(path)

    def put_blob(self, data: bytes) -> str:
        sha = git_blob_sha1(data)
        path = self.root / "blobs" / sha
        if not path.exists():
            path.write_bytes(data)
        return sha

    def blob_path(self, sha: str) -> Path:
        return self.root / "blobs" / sha

    def add_commit(self, repo: Repo, parent: str | None, tree: dict[str, str], message: str) -> str:
        """Record a commit on ``repo`` (not saved yet) and return its sha."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        body = json.dumps([parent, sorted(tree.items()), message, stamp, secrets.token_hex(4)])
        sha = hashlib.sha1(body.encode()).hexdigest()
        repo.commits[sha] = {"parent": parent, "tree": tree, "message": message, "date": stamp}
        return sha

"""The Hub HTTP API of the test Hub (tests/hub_server.py): the part that ``create_repo``,
``create_commit``/``upload_folder``, ``create_tag``, ``create_branch``, ``repo_info``,
``list_repo_tree``, ``list_repo_refs``, ``hf_hub_download`` and ``snapshot_download`` use, over a
``HubStore`` (tests/hub_store.py).

Uploads: the ``preupload`` answer says ``"uploadMode": "regular"`` for every file, so the client
sends contents base64-encoded inside the commit's NDJSON payload and never tries LFS or Xet (it
would use Xet for "lfs" files when ``hf_xet`` is installed, which a local server cannot serve).
Downloads: plain ``resolve/<revision>/<path>`` responses with ``ETag`` (git blob sha1),
``X-Repo-Commit`` and ``Content-Length``; no ``X-Xet-Hash``, so the client downloads over HTTP.

Errors carry the ``X-Error-Code`` header the client maps to exceptions: ``RepoNotFound`` ->
``RepositoryNotFoundError``, ``RevisionNotFound`` -> ``RevisionNotFoundError``, ``EntryNotFound`` ->
``RemoteEntryNotFoundError``.

Authentication: the server has one valid token (``HubServer.token``). Writes need it (401
otherwise); a private repository is invisible (401 ``RepoNotFound``, as on the Hub) without it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import yaml
from hub_store import EMPTY_TREE, REPO_TYPES, HubError, Repo


class HubHandler(BaseHTTPRequestHandler):
    """Routes Hub API requests to ``self.server.hub`` (a ``HubServer``: its ``store``, ``token``,
    ``user``, ``url`` and ``log``)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        self.server.hub.log.append(f"{self.command} {self.path}")

    # -- plumbing ---------------------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None,
              content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, payload: Any, status: int = 200, headers: dict | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        return auth == f"Bearer {self.server.hub.token}"

    def _dispatch(self) -> None:
        try:
            url = urlsplit(self.path)
            parts = [unquote(p) for p in url.path.split("/")[1:]]
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            self._route(parts, query)
        except HubError as err:
            headers = {"X-Error-Message": err.message, **err.headers}
            if err.code:
                headers["X-Error-Code"] = err.code
            self._json({"error": err.message}, err.status, headers)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _dispatch

    # -- routing ----------------------------------------------------------------------------------

    def _route(self, parts: list[str], query: dict[str, str]) -> None:
        hub = self.server.hub
        method = self.command
        if parts[:1] == ["api"]:
            if parts[1:3] == ["repos", "create"] and method == "POST":
                return self._create_repo()
            if parts[1:3] == ["repos", "delete"] and method == "DELETE":
                return self._delete_repo()
            if parts[1:2] == ["validate-yaml"] and method == "POST":
                return self._validate_yaml()
            if parts[1:2] == ["whoami-v2"]:
                if not self._authorized():
                    raise HubError(401, "", "Invalid credentials in Authorization header")
                return self._json({"type": "user", "name": hub.user, "auth": {}})
            if len(parts) >= 4 and parts[1] in REPO_TYPES:
                repo_type, repo_id, rest = REPO_TYPES[parts[1]], "/".join(parts[2:4]), parts[4:]
                return self._repo_api(repo_type, repo_id, rest, query)
            raise HubError(404, "", f"no such API route: {self.path}")
        # file downloads: /{ns}/{name}/resolve/{rev}/{path}, /datasets/{ns}/{name}/resolve/...
        repo_type = "model"
        if parts and parts[0] in ("datasets", "spaces"):
            repo_type, parts = REPO_TYPES[parts[0]], parts[1:]
        if len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
            return self._resolve(repo_type, "/".join(parts[:2]), parts[3], "/".join(parts[4:]))
        raise HubError(404, "", f"not found: {self.path}")

    def _readable_repo(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.server.hub.store.get(repo_type, repo_id)
        if repo is None or (repo.private and not self._authorized()):
            raise HubError(401 if not self._authorized() else 404, "RepoNotFound",
                           "Repository not found")
        return repo

    def _writable_repo(self, repo_type: str, repo_id: str) -> Repo:
        if not self._authorized():
            raise HubError(401, "", "Invalid credentials in Authorization header")
        return self._readable_repo(repo_type, repo_id)

    def _repo_url(self, repo_type: str, repo_id: str) -> str:
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        return f"{self.server.hub.url}/{prefix}{repo_id}"

    # -- repositories -----------------------------------------------------------------------------

    def _create_repo(self) -> None:
        hub = self.server.hub
        if not self._authorized():
            raise HubError(401, "", "Invalid credentials in Authorization header")
        payload = json.loads(self._body() or b"{}")
        repo_type = payload.get("type") or "model"
        if repo_type not in REPO_TYPES.values():
            raise HubError(400, "", f"invalid repo type {repo_type!r}")
        namespace = payload.get("organization") or hub.user
        repo_id = f"{namespace}/{payload['name']}"
        private = payload.get("visibility", "private" if payload.get("private") else "public")
        with hub.store.lock:
            if hub.store.get(repo_type, repo_id) is not None:
                raise_conflict = {"error": "You already created this repo",
                                  "url": self._repo_url(repo_type, repo_id)}
                return self._json(raise_conflict, 409)
            repo = Repo(repo_type=repo_type, repo_id=repo_id, private=private != "public",
                        created_at=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()))
            sha = hub.store.add_commit(repo, None, dict(EMPTY_TREE), "initial commit")
            repo.branches["main"] = sha
            hub.store.save(repo)
        self._json({"url": self._repo_url(repo_type, repo_id), "name": repo_id, "id": repo_id})

    def _delete_repo(self) -> None:
        hub = self.server.hub
        payload = json.loads(self._body() or b"{}")
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or hub.user}/{payload['name']}"
        self._writable_repo(repo_type, repo_id)
        with hub.store.lock:
            hub.store._repo_file(repo_type, repo_id).unlink()
        self._json({})

    def _validate_yaml(self) -> None:
        """Parse the README's YAML front matter; 400 with ``errors`` when it is not a mapping."""
        content = json.loads(self._body() or b"{}").get("content", "")
        errors = []
        if content.startswith("---"):
            header = content.split("---", 2)[1] if content.count("---") >= 2 else None
            try:
                data = yaml.safe_load(header) if header is not None else None
                if header is None or not isinstance(data, (dict, type(None))):
                    errors.append({"message": "metadata must be a YAML mapping"})
            except yaml.YAMLError as err:
                errors.append({"message": f"invalid YAML: {err}"})
        self._json({"errors": errors, "warnings": []}, 400 if errors else 200)

    def _repo_api(self, repo_type: str, repo_id: str, rest: list[str], query: dict) -> None:
        method = self.command
        if method == "GET" and (not rest or rest[0] == "revision"):
            return self._info(repo_type, repo_id, rest[1] if len(rest) > 1 else "main")
        if method == "GET" and rest[:1] == ["tree"] and len(rest) >= 2:
            return self._tree(repo_type, repo_id, rest[1], "/".join(rest[2:]), query)
        if method == "GET" and rest == ["refs"]:
            repo = self._readable_repo(repo_type, repo_id)
            refs = {
                kind: [{"name": n, "ref": f"refs/{prefix}/{n}", "targetCommit": sha}
                       for n, sha in sorted(mapping.items())]
                for kind, prefix, mapping in (("branches", "heads", repo.branches),
                                              ("tags", "tags", repo.tags))
            }
            return self._json({**refs, "converts": []})
        if method == "POST" and rest[:1] == ["preupload"] and len(rest) == 2:
            return self._preupload(repo_type, repo_id, rest[1])
        if method == "POST" and rest[:1] == ["commit"] and len(rest) == 2:
            return self._commit(repo_type, repo_id, rest[1], query)
        if rest[:1] in (["tag"], ["branch"]) and len(rest) == 2:
            return self._ref(repo_type, repo_id, rest[0], rest[1])
        raise HubError(404, "", f"no such API route: {self.path}")

    def _info(self, repo_type: str, repo_id: str, revision: str) -> None:
        repo = self._readable_repo(repo_type, repo_id)
        sha = repo.resolve(revision)
        commit = repo.commits[sha]
        store = self.server.hub.store
        siblings = [
            {"rfilename": p, "blobId": b, "size": store.blob_path(b).stat().st_size}
            for p, b in sorted(commit["tree"].items())
        ]
        self._json({
            "_id": hashlib.md5(repo_id.encode()).hexdigest()[:24],
            "id": repo_id,
            "author": repo_id.split("/")[0],
            "sha": sha,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "lastModified": commit["date"],
            "createdAt": repo.created_at,
            "tags": [],
            "downloads": 0,
            "likes": 0,
            "siblings": siblings,
        })

    def _tree(self, repo_type: str, repo_id: str, revision: str, path: str, query: dict) -> None:
        repo = self._readable_repo(repo_type, repo_id)
        tree = repo.commits[repo.resolve(revision)]["tree"]
        recursive = query.get("recursive", "false").lower() in ("1", "true")
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""
        if prefix and not any(p.startswith(prefix) for p in tree):
            raise HubError(404, "EntryNotFound", f"{path} does not exist on {revision}")
        entries: dict[str, dict] = {}
        for file_path, blob in sorted(tree.items()):
            if not file_path.startswith(prefix):
                continue
            rel = file_path[len(prefix):].split("/")
            for depth in range(1, len(rel)):  # parent folders
                folder = prefix + "/".join(rel[:depth])
                if recursive or depth == 1:
                    entries.setdefault(folder, {"type": "directory", "path": folder,
                                                "oid": hashlib.sha1(folder.encode()).hexdigest()})
            if recursive or len(rel) == 1:
                size = self.server.hub.store.blob_path(blob).stat().st_size
                entries[file_path] = {"type": "file", "path": file_path, "oid": blob, "size": size}
        self._json(list(entries.values()))

    def _preupload(self, repo_type: str, repo_id: str, revision: str) -> None:
        repo = self._writable_repo(repo_type, repo_id)
        payload = json.loads(self._body() or b"{}")
        tree = repo.commits[repo.resolve(revision)]["tree"]
        files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                  "oid": tree.get(f["path"])} for f in payload.get("files", [])]
        self._json({"files": files, "commitOid": repo.resolve(revision)})

    def _commit(self, repo_type: str, repo_id: str, revision: str, query: dict) -> None:
        hub = self.server.hub
        self._writable_repo(repo_type, repo_id)
        if query.get("create_pr"):
            raise HubError(400, "", "pull requests are not supported by this test server")
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        with hub.store.lock:
            repo = self._readable_repo(repo_type, repo_id)
            if revision not in repo.branches:
                raise HubError(404, "RevisionNotFound", f"{revision} is not a branch")
            head = repo.branches[revision]
            tree = dict(repo.commits[head]["tree"])
            message = "commit"
            for line in lines:
                key, value = line["key"], line["value"]
                if key == "header":
                    message = value.get("summary") or message
                    parent = value.get("parentCommit")
                    if parent and parent != head:
                        raise HubError(412, "", f"parent commit {parent} is not the head {head}")
                elif key == "file":
                    if value.get("encoding", "base64") != "base64":
                        raise HubError(400, "", f"unsupported encoding {value.get('encoding')}")
                    tree[value["path"]] = hub.store.put_blob(base64.b64decode(value["content"]))
                elif key == "deletedFile":
                    if tree.pop(value["path"], None) is None:
                        raise HubError(404, "EntryNotFound",
                                       f"A file with this name doesn't exist: {value['path']}")
                elif key == "deletedFolder":
                    folder = value["path"].rstrip("/") + "/"
                    tree = {p: b for p, b in tree.items() if not p.startswith(folder)}
                else:  # lfsFile: never asked for, preupload always answers "regular"
                    raise HubError(400, "", f"unsupported commit operation {key!r}")
            sha = hub.store.add_commit(repo, head, tree, message)
            repo.branches[revision] = sha
            hub.store.save(repo)
        self._json({"commitUrl": f"{self._repo_url(repo_type, repo_id)}/commit/{sha}",
                    "commitOid": sha, "success": True, "pullRequestUrl": None})

    def _ref(self, repo_type: str, repo_id: str, kind: str, name: str) -> None:
        """``POST .../tag/{revision}`` {"tag"} and ``POST .../branch/{name}`` {"startingPoint"}."""
        hub = self.server.hub
        self._writable_repo(repo_type, repo_id)
        payload = json.loads(self._body() or b"{}")
        with hub.store.lock:
            repo = self._readable_repo(repo_type, repo_id)
            if kind == "tag" and self.command == "POST":
                tag = payload["tag"]
                if tag in repo.tags:
                    raise HubError(409, "", f"tag {tag} already exists")
                repo.tags[tag] = repo.resolve(name)
            elif kind == "tag" and self.command == "DELETE":
                if repo.tags.pop(name, None) is None:
                    raise HubError(404, "RevisionNotFound", f"Invalid rev id: {name}")
            elif kind == "branch" and self.command == "POST":
                if name in repo.branches:
                    raise HubError(409, "", f"branch {name} already exists")
                repo.branches[name] = repo.resolve(payload.get("startingPoint") or "main")
            elif kind == "branch" and self.command == "DELETE":
                if name == "main" or repo.branches.pop(name, None) is None:
                    raise HubError(404 if name != "main" else 403, "RevisionNotFound",
                                   f"cannot delete branch {name}")
            else:
                raise HubError(405, "", f"{self.command} not allowed on {kind}")
            hub.store.save(repo)
        self._json({})

    # -- downloads --------------------------------------------------------------------------------

    def _resolve(self, repo_type: str, repo_id: str, revision: str, path: str) -> None:
        repo = self._readable_repo(repo_type, repo_id)
        sha = repo.resolve(revision)
        blob = repo.commits[sha]["tree"].get(path)
        if blob is None:
            raise HubError(404, "EntryNotFound", f"{path} does not exist on {revision}",
                           {"X-Repo-Commit": sha})
        data = self.server.hub.store.blob_path(blob).read_bytes()
        headers = {"ETag": f'"{blob}"', "X-Repo-Commit": sha, "Accept-Ranges": "bytes",
                   "Content-Disposition": f"inline; filename*=UTF-8''{quote(path.split('/')[-1])}"}
        status = 200
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes=") and ranged.endswith("-") and "," not in ranged:
            start = int(ranged[len("bytes="):-1])
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            data, status = data[start:], 206
        self._send(status, data, headers, content_type="application/octet-stream")

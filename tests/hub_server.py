"""A small Hugging Face Hub-protocol server for tests, so the real ``huggingface_hub`` client runs.

Nothing installable here accepts uploads the way the Hub does, so the server answers the Hub's
HTTP API (tests/hub_api.py: which calls, uploads, downloads, errors, the token) over repositories
stored on disk (tests/hub_store.py).

Use the ``hub`` fixture (import ``hub_fixture`` into a test module) or ``running_hub_server`` plus
``point_client_at``. ``huggingface_hub`` reads ``HF_ENDPOINT``, ``HF_HUB_CACHE`` and
``HF_HUB_OFFLINE`` once, at import, into ``huggingface_hub.constants``: ``point_client_at`` patches
those constants (for this process) and sets the environment variables (for subprocesses).
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

from hub_api import HubHandler
from hub_store import HubStore


class HubServer:
    """A Hub-protocol server on 127.0.0.1 (a free port) in a background thread, data in ``root``.

    ``url`` is the endpoint (``http://127.0.0.1:PORT``), ``token`` the one valid token, ``user`` its
    user name (the namespace of repos created without an organization), ``log`` the requests seen.
    """

    def __init__(self, root: Path, user: str = "tester"):
        self.store = HubStore(root)
        self.user = user
        self.token = "hf_" + secrets.token_hex(16)
        self.log: list[str] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), HubHandler)
        self._httpd.daemon_threads = True
        self._httpd.hub = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True)

    def start(self) -> HubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def running_hub_server(root: Path) -> Iterator[HubServer]:
    """Run a ``HubServer`` storing under ``root`` for the duration of the ``with`` block."""
    server = HubServer(root).start()
    try:
        yield server
    finally:
        server.stop()


def point_client_at(monkeypatch, endpoint: str, hf_home: Path, token: str | None = None,
                    offline: bool = False) -> None:
    """Point ``huggingface_hub`` (this process and subprocesses) at ``endpoint`` and a fresh cache.

    Sets ``HF_ENDPOINT``, ``HF_HOME``, ``HF_HUB_CACHE``, ``HF_TOKEN`` and ``HF_HUB_OFFLINE`` in the
    environment and patches the values ``huggingface_hub.constants`` read from them at import.
    Call again (e.g. with ``offline=True``) to change them within a test.
    """
    from huggingface_hub import constants

    hf_home = Path(hf_home)
    cache = hf_home / "hub"
    cache.mkdir(parents=True, exist_ok=True)
    env = {"HF_ENDPOINT": endpoint, "HF_HOME": str(hf_home), "HF_HUB_CACHE": str(cache),
           "HF_XET_CACHE": str(hf_home / "xet"), "HF_HUB_OFFLINE": "1" if offline else "0",
           "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if token is None:
        monkeypatch.delenv("HF_TOKEN", raising=False)
    else:
        monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HUGGINGFACE_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HOME", str(hf_home))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(hf_home / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(hf_home / "stored_tokens"))
    monkeypatch.setattr(constants, "HF_XET_CACHE", str(hf_home / "xet"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)


try:
    import pytest
except ImportError:  # the server itself needs no pytest
    pytest = None

if pytest is not None:

    @pytest.fixture(name="hub")
    def hub_fixture(tmp_path, monkeypatch) -> Iterator[HubServer]:
        """A fresh Hub-protocol server, with the client pointed at it (token set, empty cache).

        Import ``hub_fixture`` into a test module to use it as the fixture ``hub``.
        """
        with running_hub_server(tmp_path / "hub-storage") as server:
            point_client_at(monkeypatch, server.url, tmp_path / "hf-home", token=server.token)
            yield server

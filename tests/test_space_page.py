"""The Gradio Space's page: ``python space/app.py`` served in a subprocess, driven in headless
Chromium with playwright (the functions behind it: tests/test_space.py)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from adaptive_eval import ItemBank
from space_helpers import (  # noqa: F401 (fixtures)
    GSM8K_MODEL,
    HAS_GENERATOR,
    ROOT,
    app_env_fixture,
    needs_data,
    needs_zeroeval,
    tiny_lm_dir_fixture,
    tiny_predictor_dir_fixture,
)

SHOTS = ROOT / "test-output" / "space"
CHROMIUM = Path("/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(app_env, tiny_lm_dir, tmp_path_factory):
    """The Space in a subprocess; its live LM is the tiny random-weight Llama (fast)."""
    port = free_port()
    env = dict(os.environ, **app_env, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
               ADAPTIVE_EVAL_LOCAL_MODEL=str(tiny_lm_dir))
    log = tmp_path_factory.mktemp("space") / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, str(ROOT / "space" / "app.py")], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"the app exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    pytest.fail(f"the app did not answer on {url}:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def launch_chromium(p):
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y "
                    "chromium); the browser test drives it with playwright")
    SHOTS.mkdir(parents=True, exist_ok=True)
    return p.chromium.launch(executable_path=str(CHROMIUM), args=[
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"])


def pick(page, elem_id: str, typed: str, option: str) -> None:
    """Choose ``option`` in the dropdown ``elem_id``, typing ``typed`` to filter its list."""
    box = page.locator(f"#{elem_id} input")
    box.click()
    box.fill(typed)  # filters the list; pressing Enter could race the filter
    page.get_by_role("option", name=option, exact=True).click()


@pytest.mark.slow  # 223 s on the shared 2 cores: the Difficulty and Generate tabs' models
@pytest.mark.browser
@needs_data
def test_the_page_in_chromium(server):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        try:
            page.goto(server)
            # adaptive evaluation of a replayed model, to the end
            model = page.locator("#cat-model input")
            model.click()
            model.fill("Yi-34B")  # filters the list; pressing Enter could race the filter
            page.get_by_role("option", name="replay: Yi-34B", exact=True).click()
            expect(model).to_have_value("replay: Yi-34B")
            page.locator("#cat-max-items input").fill("40")
            page.locator("#cat-target-se input").fill("0.2")
            page.locator("#cat-run").click()
            expect(page.locator("#cat-summary")).to_contain_text("Finished", timeout=60_000)
            expect(page.locator("#cat-summary")).to_contain_text("True accuracy")
            expect(page.locator("#cat-plot img")).to_be_visible()
            expect(page.locator("#cat-question")).to_contain_text("Question")
            assert "Yi-34B" in page.locator("#cat-model input").input_value()
            page.screenshot(path=str(SHOTS / "adaptive.png"), full_page=True)
            # impossible settings: a message, no stack trace
            page.locator("#cat-max-items input").fill("0")
            page.locator("#cat-next").click()
            expect(page.locator("#cat-status")).to_contain_text("Max items must be between 1")
            page.screenshot(path=str(SHOTS / "adaptive-bad-input.png"), full_page=True)
            # difficulty
            page.get_by_role("tab", name="Difficulty").click()
            page.locator("#difficulty-button").click()  # empty text
            expect(page.locator("#difficulty-result")).to_contain_text("Enter a question",
                                                                       timeout=30_000)
            page.locator("#difficulty-question textarea").fill(
                "Which of the following is a prime number?")
            page.locator("#difficulty-options textarea").fill("21\n27\n29\n33")
            page.locator("#difficulty-button").click()
            expect(page.locator("#difficulty-result")).to_contain_text("Predicted difficulty",
                                                                       timeout=120_000)
            expect(page.locator("#difficulty-plot img")).to_be_visible()
            expect(page.locator("#difficulty-similar")).to_contain_text("similarity")
            page.screenshot(path=str(SHOTS / "difficulty.png"), full_page=True)
            page.locator("#difficulty-question textarea").fill("x" * 5001)
            page.locator("#difficulty-button").click()
            expect(page.locator("#difficulty-result")).to_contain_text("too long")
            # generate
            page.get_by_role("tab", name="Generate").click()
            page.locator("#generate-button").click()
            expected = "predicted difficulty" if HAS_GENERATOR else "generator not available"
            expect(page.locator("#generate-output")).to_contain_text(expected, timeout=300_000)
            page.screenshot(path=str(SHOTS / "generate.png"), full_page=True)
            assert "Traceback" not in page.content()
        except Exception:
            page.screenshot(path=str(SHOTS / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()


@pytest.mark.browser
@needs_zeroeval
def test_gsm8k_replay_and_live_free_form_in_chromium(server, tiny_lm_dir):
    """A visitor picks the GSM8K bank, replays a recorded model to the end, then lets the live LM
    (here the tiny random-weight Llama) answer: the history shows its reply and the extraction;
    then runs a suite of the four ZeroEval banks."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        try:
            page.goto(server)
            pick(page, "cat-bank", "gsm8k", "gsm8k: GSM8K (numeric)")
            model = page.locator("#cat-model input")
            abilities = ItemBank.load("gsm8k").abilities
            strongest = max(abilities, key=lambda m: abilities[m]["theta"])
            expect(model).to_have_value(f"replay: {strongest}")  # listed first
            pick(page, "cat-model", GSM8K_MODEL, f"replay: {GSM8K_MODEL}")
            expect(model).to_have_value(f"replay: {GSM8K_MODEL}")
            page.locator("#cat-max-items input").fill("15")
            page.locator("#cat-target-se input").fill("0")
            page.locator("#cat-run").click()
            summary, history = page.locator("#cat-summary"), page.locator("#cat-history")
            expect(summary).to_contain_text("Finished", timeout=60_000)
            expect(summary).to_contain_text("1,319 GSM8K questions")
            expect(summary).to_contain_text("True accuracy")
            expect(page.locator("#cat-plot img")).to_be_visible()
            expect(page.locator("#cat-question")).to_contain_text("Gold answer")
            for text in ("response", "extracted", "gsm8k-main-test-",
                         "(not recorded: correctness only)"):
                expect(history).to_contain_text(text)
            page.screenshot(path=str(SHOTS / "gsm8k-replay.png"), full_page=True)
            pick(page, "cat-model", "live", f"live: {tiny_lm_dir.name} (local LM, slow)")
            page.locator("#cat-next").click()
            expect(summary).to_contain_text("Running: 1 of at most 15", timeout=120_000)
            expect(page.locator("#cat-question")).to_contain_text("Model's reply")
            expect(page.locator("#cat-status")).to_have_text("")
            assert "(not recorded" not in history.inner_text()  # a new test: live rows only
            expect(history.locator("tbody tr")).to_have_count(1)
            reply = page.locator("#cat-question pre").inner_text().strip()
            assert reply and reply[:30] in history.inner_text()  # the raw response column
            shown = page.locator("#cat-question").inner_text()
            found = re.search(r"Extracted answer: (\S+)", shown)
            extracted = found.group(1) if found else "(none)"
            expect(history.locator("tbody tr td").filter(has_text=extracted)).not_to_have_count(0)
            page.screenshot(path=str(SHOTS / "gsm8k-live.png"), full_page=True)
            # a suite of the four ZeroEval banks, replayed
            page.get_by_role("tab", name="Suite").click()
            page.locator("#suite-max-items input").fill("24")
            page.locator("#suite-run").click()
            expect(page.locator("#suite-summary")).to_contain_text("from 24 questions",
                                                                   timeout=60_000)
            expect(page.locator("#suite-plot img")).to_be_visible()
            expect(page.locator("#suite-history")).to_contain_text("cruxeval")
            page.screenshot(path=str(SHOTS / "suite.png"), full_page=True)
            assert "Traceback" not in page.content()
        except Exception:
            page.screenshot(path=str(SHOTS / "gsm8k-failure.png"), full_page=True)
            raise
        finally:
            browser.close()

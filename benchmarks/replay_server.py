"""An OpenAI-compatible HTTP server that answers from recorded responses, with a delay.

    .venv/bin/python benchmarks/replay_server.py --bank mmlu-pro --model MODEL --delay 1 \
        --port 8099 [--data ../shared/data]

For measuring adaptive tests against a serving engine without a GPU: the real client, the real
HTTP stack and real answers. ``POST /v1/chat/completions`` (or ``/v1/completions``) finds the
bank question in the request (``ReplayServer.find``), waits ``delay`` seconds (requests are
served concurrently, as an engine's slots are) and replies with the gold answer when the
recorded answer was right, another option (or a wrong number) when it was wrong, written so that
every bank's reading rule finds it:
``{"reasoning": "...", "answer": "X"}`` then ``The answer is (X).``. ``usage`` counts prompt and
reply characters / 4 as tokens. ``GET /v1/models`` lists the model. A question with no recorded
answer is a 404.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from adaptive_eval.banks.answers import LETTERS
from adaptive_eval.banks.catalog import bank_info
from adaptive_eval.banks.items import bank_responses
from adaptive_eval.banks.questions import Question, load_questions
from adaptive_eval.banks.responses import ResponseData


class ReplayServer:
    """Serve ``answers`` (question id -> 1/0) to ``questions`` on 127.0.0.1:``port``."""

    def __init__(self, questions: Mapping[str, Question], answers: Mapping[str, int],
                 model: str = "replay", delay: float = 1.0, port: int = 0) -> None:
        self.questions = {q: questions[q] for q in answers if q in questions}
        self.answers, self.model, self.delay = dict(answers), model, float(delay)
        self.snippets: dict[str, list[str]] = {}  # a question text -> its questions
        for qid, q in self.questions.items():
            if q.text.strip():
                self.snippets.setdefault(_squash(q.text), []).append(qid)
        self.requests = 0
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def find(self, prompt: str) -> str | None:
        """The bank question asked in ``prompt``: of the question texts found in it (whitespace
        runs squashed on both sides), the longest, then the last (a short question's text can
        also occur inside another one's options); of questions with the same text, the one
        with the most of its options in the prompt."""
        prompt = _squash(prompt)
        best, key = None, (-1, -1, -1)
        for snippet, qids in self.snippets.items():
            at = prompt.rfind(snippet)
            if at < 0:
                continue
            for qid in qids:
                found = sum(_squash(o) in prompt for o in self.questions[qid].options)
                if (len(snippet), at, found) > key:
                    best, key = qid, (len(snippet), at, found)
        return best

    def reply(self, qid: str) -> str:
        """The recorded answer to ``qid``, written for every bank's reading rule."""
        question, right = self.questions[qid], bool(self.answers[qid])
        if question.options:
            gold = int(question.answer_index)
            said = LETTERS[gold if right else (gold + 1) % len(question.options)]
        else:
            gold = str(question.answer)
            said = gold if right else _wrong(gold)
        return (json.dumps({"reasoning": "as recorded", "answer": said})
                + f"\nThe answer is ({said}).")

    def enter(self) -> None:
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


def _squash(text: str) -> str:
    return " ".join(str(text).split())


def _wrong(gold: str) -> str:
    try:
        return str(float(gold.replace(",", "")) + 1)
    except ValueError:
        return f"not {gold}"


def _handler(server: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                self._send(200, {"object": "list", "data": [{"id": server.model,
                                                             "object": "model"}]})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            chat = self.path.endswith("/chat/completions")
            prompt = ("\n".join(str(m.get("content", "")) for m in body.get("messages", []))
                      if chat else str(body.get("prompt", "")))
            qid = server.find(prompt)
            if qid is None:
                self._send(404, {"error": {"message": "no recorded question in the request"}})
                return
            server.enter()
            try:
                time.sleep(server.delay)
            finally:
                server.leave()
            text = server.reply(qid)
            choice = ({"index": 0, "message": {"role": "assistant", "content": text},
                       "finish_reason": "stop"} if chat
                      else {"index": 0, "text": text, "finish_reason": "stop"})
            usage = {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(text) // 4,
                     "total_tokens": (len(prompt) + len(text)) // 4}
            self._send(200, {"id": f"replay-{server.requests}", "object": "chat.completion",
                             "created": int(time.time()), "model": server.model,
                             "choices": [choice], "usage": usage})

    return Handler


def recorded_answers(data: ResponseData, model: str) -> dict[str, int]:
    """``model``'s recorded answers: question id -> 1/0."""
    row = data.models.index(model)
    return {data.question_ids[i]: int(c) for m, i, c in
            zip(data.model_index, data.item_index, data.correct) if m == row}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bank", default="mmlu-pro")
    parser.add_argument("--model", required=True, help="a recorded model of the bank")
    parser.add_argument("--delay", type=float, default=1.0)
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared"
                                              / "data"))
    args = parser.parse_args()
    info = bank_info(args.bank)
    answers = recorded_answers(bank_responses(args.bank, args.data, {}), args.model)
    items = Path(args.data) / info.source / "items.csv.gz"
    with ReplayServer(load_questions(items), answers, args.model, args.delay,
                      args.port) as server:
        print(f"serving {len(server.questions)} recorded answers of {args.model} at "
              f"{server.url}", flush=True)
        server._thread.join()


if __name__ == "__main__":
    main()

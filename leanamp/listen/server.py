"""The listening-test web server: the MUSHRA page and a small JSON API, on 127.0.0.1 only.

Routes
  GET  /                                  the page (static/index.html, mushra.js, mushra.css)
  POST /api/start      {"name"}           a new participant: {"participant", "trials": [...]}
  GET  /api/session/<participant>         the same for a returning participant, with ratings
  POST /api/rate       {"participant", "trial", "ratings": {slot: score}, "complete": bool}
  GET  /audio/<participant>/<trial>/<slot|reference>   a stimulus, by opaque slot number

Audio is addressed by slot, never by condition name, so the page cannot reveal which slot is the
hidden reference, the anchor or which model.
"""

from __future__ import annotations

import json
import os
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

from leanamp.errors import LeanampError
from leanamp.listen.session import REFERENCE, AnswerStore, open_listening_test

HOST = "127.0.0.1"  # never reachable from another machine
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/mushra.js": ("mushra.js", "text/javascript; charset=utf-8"),
          "/mushra.css": ("mushra.css", "text/css; charset=utf-8")}
MAX_BODY = 64 * 1024


def _client_session(store: AnswerStore, record: dict) -> dict:
    """What the page may know: trial order, slot counts, audio URLs, ratings by slot."""
    participant = record["participant"]
    trials = []
    for trial_id in record["trial_order"]:
        slots = record["slots"][trial_id]
        saved = record["ratings"].get(trial_id, {})
        trials.append({
            "id": trial_id,
            "reference": f"/audio/{participant}/{trial_id}/reference",
            "slots": [f"/audio/{participant}/{trial_id}/{i}" for i in range(len(slots))],
            "ratings": {str(i): saved[name] for i, name in enumerate(slots) if name in saved},
            "complete": trial_id in record["complete"],
        })
    return {"participant": participant, "name": record["name"],
            "title": store.test.get("title", "Listening test"), "trials": trials}


class _Handler(BaseHTTPRequestHandler):
    store: AnswerStore  # set on the subclass made per server

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass  # the test runs on one machine; request logs would only clutter the terminal

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value, status: int = HTTPStatus.OK) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json({"error": message}, status)

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise LeanampError("request too large")
        try:
            value = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            raise LeanampError("request body is not JSON") from None
        if not isinstance(value, dict):
            raise LeanampError("request body must be a JSON object")
        return value

    def do_GET(self):  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        try:
            if path in STATIC:
                name, content_type = STATIC[path]
                body = resources.files("leanamp.listen").joinpath("static", name).read_bytes()
                return self._send(HTTPStatus.OK, body, content_type)
            parts = path.strip("/").split("/")
            if len(parts) == 3 and parts[:2] == ["api", "session"]:
                return self._json(_client_session(self.store, self.store.load(parts[2])))
            if len(parts) == 4 and parts[0] == "audio":
                return self._audio(*parts[1:])
        except LeanampError as e:
            return self._error(HTTPStatus.NOT_FOUND, str(e))
        self._error(HTTPStatus.NOT_FOUND, f"no such page {path}")

    def _audio(self, participant: str, trial_id: str, slot: str) -> None:
        record = self.store.load(participant)
        trial = self.store.trials.get(trial_id)
        if trial is None:
            raise LeanampError(f"unknown trial {trial_id}")
        if slot == "reference":
            condition = REFERENCE
        elif slot.isdigit() and int(slot) < len(record["slots"][trial_id]):
            condition = record["slots"][trial_id][int(slot)]
        else:
            raise LeanampError(f"trial {trial_id} has no slot {slot}")
        file = self.store.test_dir / trial["conditions"][condition]
        self._send(HTTPStatus.OK, file.read_bytes(), "audio/wav")

    def do_POST(self):  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        try:
            body = self._body()
            if path == "/api/start":
                record = self.store.start(str(body.get("name", "")).strip() or "anonymous")
                return self._json(_client_session(self.store, record))
            if path == "/api/rate":
                ratings = body.get("ratings", {})
                if not isinstance(ratings, dict):
                    raise LeanampError("ratings must map slots to scores")
                record = self.store.rate(str(body.get("participant", "")),
                                         str(body.get("trial", "")), ratings,
                                         bool(body.get("complete", False)))
                return self._json({"saved": True, "complete": record["complete"]})
        except (LeanampError, ValueError) as e:
            return self._error(HTTPStatus.BAD_REQUEST, str(e))
        self._error(HTTPStatus.NOT_FOUND, f"no such endpoint {path}")


class ListeningServer:
    """A running test server (in a background thread); `stop()` shuts it down."""

    def __init__(self, test_dir: str | os.PathLike, port: int = 0):
        check_port(port)
        store = AnswerStore(test_dir)
        handler = type("Handler", (_Handler,), {"store": store})
        try:
            self.httpd = ThreadingHTTPServer((HOST, port), handler)
        except OSError as e:
            raise LeanampError(f"cannot listen on {HOST}:{port} ({e.strerror}); try --port") \
                from None
        self.httpd.daemon_threads = True
        self.test_dir = Path(test_dir)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> ListeningServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> ListeningServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve_forever(test_dir: str | os.PathLike, port: int = 8000, log=print) -> None:
    """Serve the test until interrupted (Ctrl-C)."""
    server = ListeningServer(test_dir, port)
    log(f"listening test at {server.url} (answers in {Path(test_dir) / 'answers'}); "
        "Ctrl-C to stop")
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()


def check_port(port: int) -> None:
    """Refuse a port number no socket can have (0 asks for any free port)."""
    if not 0 <= port <= 65535:
        raise LeanampError(f"--port must be within 0..65535, got {port}")


def serve_listening_test(
    source: str | os.PathLike,
    out: str | os.PathLike | None = None,
    port: int = 8000,
    seconds: float | None = 8.0,
    runs: list[str] | None = None,
    log=print,
) -> None:
    """`leanamp listen`: the test of `source` (prepared on first use: `open_listening_test`)
    served on 127.0.0.1:`port` until Ctrl-C; the port is checked before any preparation."""
    check_port(port)
    serve_forever(open_listening_test(source, out, seconds, runs), port, log)

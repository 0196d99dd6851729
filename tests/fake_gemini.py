"""A local HTTP server that speaks the Gemini REST shape, for testing the real google-genai client.

The Gemini API cannot be reached from CI (and costs money), so the editor adapter is tested
against this server instead: the *real* `google.genai.Client` sends real HTTP requests to
127.0.0.1, and this server answers in the same JSON shape the Developer API uses
(`POST /v1beta/models/{model}:generateContent`, camelCase fields, base64 `inlineData`).

Two ways to use it:

- In-process, as a context manager (unit tests)::

      with FakeGemini(api_key="fake-key", script=[{"kind": "error", "status": 429}]) as fake:
          client = genai.Client(api_key="fake-key", http_options={"base_url": fake.base_url})
          ...
          fake.requests  # every request: path, parsed JSON body, headers (key value redacted)

- As a separate process (kill-and-resume tests of a chain builder)::

      python tests/fake_gemini.py --port-file PORT --log LOG.jsonl [--script SCRIPT.json]
                                  [--api-key KEY] [--default image]

  It binds 127.0.0.1 on a free port, writes the port to PORT (atomically, once listening),
  appends one JSON line per request to LOG (flushed before the response is sent, so the log
  survives a SIGKILL of the client), and serves until it is killed.

Scripted responses ("actions"), served in order; once the script is used up every request
gets the `default` action. Each action is a dict with a `kind`:

  image           200, a PNG: the request's (last) input image with slight deterministic noise,
                  plus a `thought: true` text part (`thought`, default THOUGHT_TEXT) and a
                  plain text part (`text`, optional). `finish` sets finishReason (default STOP).
  text            200, a plain text answer (`text`), plus an optional `thought` part.
  error           HTTP `status` (e.g. 429, 503) with Google's JSON error body; `repeat` = n
                  serves it n times in a row; `retry_delay` ("7s") adds a RetryInfo detail.
  safety          200, a candidate with finishReason `reason` (default SAFETY) and no content.
  blocked_prompt  200, no candidates, promptFeedback.blockReason `reason` (default SAFETY).
  no_image        200, a candidate with only a text part and finishReason STOP.
  malformed       200 with a body that is not JSON.
  garbage_image   200, an inlineData image part whose bytes are not an image.

Any action may carry `delay_s` (at most 30): the server logs the request, waits, then answers,
which gives a kill-and-resume test a window to SIGKILL the client mid-request.

The on-disk log (`read_log`) holds one dict per request: path, model, key_ok, served,
texts, image_sha256 (of every inline image sent), seed, temperature, image_size and
n_contents. A step requested twice shows up as two entries with the same
(image_sha256, texts, seed).

Bounded by construction: loopback only, a daemon thread, shut down at context exit.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import re
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage

THOUGHT_TEXT = "**Replicating the image**\n\nI am reproducing the scene exactly, keeping every detail."
DEFAULT_API_KEY = "fake-gemini-key-for-tests"

_ROUTE = re.compile(r"^/(v1beta|v1|v1alpha)/models/(?P<model>[^/:]+):generateContent$")

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it. `headers` never hold the API key's value."""

    path: str
    model: str
    body: Any  # parsed JSON, or None when the body was not JSON
    headers: dict[str, str]
    key_ok: bool
    served: str  # the action kind that answered it ("image", "error:429", ...)

    # ----- convenience views used by tests -------------------------------------------
    @property
    def generation_config(self) -> dict:
        return (self.body or {}).get("generationConfig", {}) or {}

    @property
    def texts(self) -> list[str]:
        return [p["text"] for c in (self.body or {}).get("contents", []) for p in c.get("parts", []) if "text" in p]

    @property
    def images(self) -> list[bytes]:
        return [
            b64decode_any(p["inlineData"]["data"])
            for c in (self.body or {}).get("contents", [])
            for p in c.get("parts", [])
            if "inlineData" in p
        ]

    def summary(self) -> dict:
        """A small JSON-able record (images as sha256) for the on-disk log."""
        cfg = self.generation_config
        return {
            "path": self.path,
            "model": self.model,
            "key_ok": self.key_ok,
            "served": self.served,
            "texts": self.texts,
            "image_sha256": [hashlib.sha256(b).hexdigest() for b in self.images],
            "seed": cfg.get("seed"),
            "temperature": cfg.get("temperature"),
            "image_size": (cfg.get("imageConfig") or {}).get("imageSize"),
            "n_contents": len((self.body or {}).get("contents", [])),
        }


@dataclass
class _State:
    api_key: str
    script: list[dict]
    default: dict
    log_path: Path | None
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_action(self) -> dict:
        # Called under the lock: one action per request, in arrival order.
        while self.script:
            action = self.script[0]
            left = int(action.get("repeat", 1))
            if left <= 1:
                self.script.pop(0)
            else:
                self.script[0] = {**action, "repeat": left - 1}
            return action
        return self.default


def _expand(script: Iterable[dict | str]) -> list[dict]:
    return [{"kind": a} if isinstance(a, str) else dict(a) for a in script]


class FakeGemini:
    """Context manager running the fake server on 127.0.0.1 in a daemon thread."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        script: Iterable[dict | str] = (),
        default: dict | str = "image",
        log_path: str | Path | None = None,
    ):
        default_action = {"kind": default} if isinstance(default, str) else dict(default)
        self._state = _State(api_key, _expand(script), default_action, Path(log_path) if log_path else None)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----- lifecycle ---------------------------------------------------------------------
    def start(self) -> FakeGemini:
        handler = type("Handler", (_Handler,), {"state": self._state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeGemini:  # noqa: PYI034 - Self needs Python 3.11
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- what tests look at -------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def push(self, *actions: dict | str) -> None:
        """Append actions to the script (served after the ones already queued)."""
        with self._state.lock:
            self._state.script.extend(_expand(actions))


class _Handler(BaseHTTPRequestHandler):
    state: _State  # set on the subclass FakeGemini builds
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        self._send_json(404, _error_body(404, f"no route for GET {self.path}"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if len(raw) < length:  # the client went away mid-body: the model never saw a request
            self.close_connection = True
            return
        path = self.path.split("?", 1)[0]
        match = _ROUTE.match(path)
        if not match:
            self._send_json(404, _error_body(404, f"no route for POST {path}"))
            return
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        key_ok = self.headers.get("x-goog-api-key") == self.state.api_key
        headers = {k.lower(): ("<redacted>" if k.lower() == "x-goog-api-key" else v) for k, v in self.headers.items()}

        with self.state.lock:
            action = (
                {"kind": "error", "status": 400, "message": "API key not valid. Please pass a valid API key."}
                if not key_ok
                else self.state.next_action()
            )
            served = action["kind"] + (f":{action.get('status')}" if action["kind"] == "error" else "")
            record = RecordedRequest(path, match.group("model"), body, headers, key_ok, served)
            self.state.requests.append(record)
            index = len(self.state.requests)
            if self.state.log_path is not None:
                # Written and flushed before answering: if the client is killed while waiting
                # for the reply, the log still shows the request was made.
                with open(self.state.log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(record.summary()) + "\n")
                    f.flush()
                    os.fsync(f.fileno())

        delay = float(action.get("delay_s", 0))
        if delay:
            time.sleep(min(delay, 30.0))
        try:
            status, payload = _respond(action, body, match.group("model"), index)
        except Exception as e:  # noqa: BLE001 - a fake-server bug must reach the test as a clear 500, not a hang
            status, payload = 500, _error_body(500, f"fake server failed: {type(e).__name__}: {e}")
        if isinstance(payload, bytes):
            self._send(status, payload, "application/json; charset=UTF-8")
        else:
            self._send_json(status, payload)

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json; charset=UTF-8")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _error_body(status: int, message: str) -> dict:
    return {"error": {"code": status, "message": message, "status": _STATUS_NAMES.get(status, "UNKNOWN")}}


def _usage(thoughts: int = 0) -> dict:
    return {
        "promptTokenCount": 1290,
        "candidatesTokenCount": 1120,
        "thoughtsTokenCount": thoughts,
        "totalTokenCount": 2410 + thoughts,
    }


def _respond(action: dict, body: Any, model: str, index: int) -> tuple[int, Any]:
    kind = action["kind"]
    common = {"modelVersion": model, "responseId": f"fake-response-{index}"}
    if kind == "error":
        status = int(action.get("status", 503))
        body = _error_body(status, action.get("message", f"fake error {status}"))
        if action.get("retry_delay"):  # Google's RetryInfo, as rate-limit replies carry it
            body["error"]["details"] = [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": action["retry_delay"]}
            ]
        return status, body
    if kind == "malformed":
        return 200, b'{"candidates": [ this is not json'
    if kind == "blocked_prompt":
        return 200, {"promptFeedback": {"blockReason": action.get("reason", "SAFETY")}, "usageMetadata": _usage(), **common}
    if kind == "safety":
        candidate = {"finishReason": action.get("reason", "SAFETY"), "index": 0}
        return 200, {"candidates": [candidate], "usageMetadata": _usage(), **common}
    if kind == "no_image":
        parts = [{"text": action.get("text", "I can't edit this image.")}]
        return 200, _candidate(parts, "STOP", common)
    if kind == "text":
        parts = ([{"text": action["thought"], "thought": True}] if action.get("thought") else []) + [
            {"text": action.get("text", "NO")}
        ]
        return 200, _candidate(parts, "STOP", common)
    if kind == "garbage_image":
        parts = [
            {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(b"\x89PNG\r\n\x1a\nnot really a png").decode()}}
        ]
        return 200, _candidate(parts, "STOP", common)
    if kind == "image":
        png = noisy_copy(_last_input_image(body), amplitude=int(action.get("noise", 2)))
        parts: list[dict] = []
        thought = action.get("thought", THOUGHT_TEXT)
        if thought:
            parts.append({"text": thought, "thought": True})
        if action.get("text"):
            parts.append({"text": action["text"]})
        parts.append(
            {
                "inlineData": {"mimeType": "image/png", "data": base64.b64encode(png).decode()},
                "thoughtSignature": base64.b64encode(b"sig-%d" % index).decode(),
            }
        )
        return 200, _candidate(parts, action.get("finish", "STOP"), common, thoughts=120 if thought else 0)
    return 500, _error_body(500, f"fake server: unknown scripted action {kind!r}")


def _candidate(parts: list[dict], finish: str, common: dict, thoughts: int = 0) -> dict:
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}],
        "usageMetadata": _usage(thoughts),
        **common,
    }


def _last_input_image(body: Any) -> bytes | None:
    found = None
    for content in (body or {}).get("contents", []) or []:
        for part in content.get("parts", []) or []:
            if "inlineData" in part:
                found = b64decode_any(part["inlineData"]["data"])
    return found


def b64decode_any(text: str) -> bytes:
    """Decode standard or URL-safe base64, padded or not (google-genai sends URL-safe)."""
    text = text.strip()
    return base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "=" * (-len(text) % 4))


def noisy_copy(data: bytes | None, *, amplitude: int = 2) -> bytes:
    """The input image with slight noise, as PNG; a 64x48 grey image when there is no input.

    The noise is seeded by the input bytes, so the same request always gets the same answer.
    """
    if data is None:
        pixels = np.full((48, 64, 3), 128, dtype=np.uint8)
        seed = 0
    else:
        pixels = np.asarray(PILImage.open(io.BytesIO(data)).convert("RGB"), dtype=np.uint8)
        seed = int.from_bytes(hashlib.sha256(data).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    noise = rng.integers(-amplitude, amplitude + 1, size=pixels.shape) if amplitude > 0 else 0
    out = np.clip(pixels.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(out).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def read_log(path: str | Path) -> list[dict]:
    """The request log a CLI-mode server wrote (one dict per request, in arrival order)."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a fake Gemini REST API on 127.0.0.1 until killed.")
    parser.add_argument("--port-file", required=True, help="where to write the port once listening")
    parser.add_argument("--log", required=True, help="JSON-lines request log (appended, flushed per request)")
    parser.add_argument("--script", help="JSON file: a list of actions (see module docstring)")
    parser.add_argument("--api-key", default=os.environ.get("FAKE_GEMINI_API_KEY", DEFAULT_API_KEY))
    parser.add_argument("--default", default="image", help="action kind served once the script is used up")
    args = parser.parse_args(argv)
    script = json.loads(Path(args.script).read_text()) if args.script else []
    fake = FakeGemini(api_key=args.api_key, script=script, default=args.default, log_path=args.log).start()
    port_file = Path(args.port_file)
    tmp = port_file.with_name(port_file.name + ".tmp")
    tmp.write_text(str(fake.port))
    os.replace(tmp, port_file)  # readers never see a half-written port
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

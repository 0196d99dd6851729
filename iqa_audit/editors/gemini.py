"""Gemini image editors ("Nano Banana") through google-genai, plus a text helper for judges.

One job: turn `edit(image, prompt, seed=, step=)` into one `generateContent` request and its
reply into an `EditResult`, with the study's knobs (temperature, seed mode, output size,
fresh or chat session, thought summaries) exposed as parameters that enter the chain key.

Decisions worth knowing:

- The API key comes only from the environment (GOOGLE_API_KEY, else GEMINI_API_KEY: the
  SDK's own precedence) and only when a request is about to be sent. It is never stored on
  the editor, and every message built from a server reply is scrubbed of it, so params(),
  meta, reasoning, errors and reprs cannot leak it. An editor can be created without a key,
  so a warm cache can be audited offline.
- google-genai's own retries are switched off (attempts=1) and so is its automatic
  "continuation" follow-up; this module retries 408/429/5xx and dropped connections itself
  with a deterministic backoff (1, 2, 4, ... s, or the server's RetryInfo delay when longer,
  capped at 60 s, no jitter), so the number of requests per step is known and testable. The sleep function is injectable for tests.
- A reply without an image (safety block, NO_IMAGE, prompt blocked, text only) raises
  `EditRefused`: the chain records the refusal instead of paying for the same refusal again.
  A reply that is not valid JSON, or whose image bytes do not decode, raises `EditorError`.
- The adapter's `version` does not include the SDK version: upgrading google-genai must not
  invalidate chains that cost money to build. Bump ADAPTER_VERSION when this module changes
  what is sent or how the reply becomes an image.

Chat sessions (`session="chat"`): the `Editor.edit` signature only carries the current image,
so the chat history lives in the editor instance. On a fresh process (a resumed chain) the
history is empty; `edit` then refuses any step after the first with a ConfigError that says
to call `restore_history(...)` with the stored steps (each step's meta carries the
`thought_signature` that Gemini 3 needs to accept its own earlier images in the history).
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import BadImageError, ConfigError, EditorError, explain
from ..images import Image, decode_image, encode_png
from .base import EditorEntry, EditRefused, EditResult

ADAPTER_VERSION = "gemini-adapter-1"

KEY_ENV_VARS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")  # google-genai's precedence
BASE_URL_ENV_VAR = "GOOGLE_GEMINI_BASE_URL"

DEFAULT_IMAGE_MODEL = "gemini-3-pro-image-preview"
DEFAULT_TEXT_MODEL = "gemini-2.5-flash"

IMAGE_SIZES = ("1K", "2K", "4K")
# "interleaved" cycles 1K -> 2K -> 4K by step (step 1 = 1K); "auto" sends no size at all
# (gemini-2.5-flash-image has a single output size and may reject the field).
SIZE_CHOICES = IMAGE_SIZES + ("interleaved", "auto")
SEED_MODES = ("fixed", "per-step")
SESSIONS = ("fresh", "chat")

RETRYABLE_STATUS = frozenset({408, 429})  # plus every 5xx
INITIAL_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0

# USD per output image, from Google's published Gemini API pricing (standard tier, late
# 2025): gemini-3-pro-image-preview bills 1120 output tokens for a 1K or 2K image and 2000
# for 4K at $120 / 1M tokens; gemini-2.5-flash-image bills 1290 tokens at $30 / 1M and has
# one output size. Input image, prompt and thinking tokens add roughly $0.002-0.01 per step
# and are not counted here. An unknown model is priced at the most expensive known rate so
# a budget check errs on the side of stopping.
PRICE_PER_IMAGE_USD: Mapping[str, Mapping[str, float]] = {
    "gemini-3-pro-image-preview": {"1K": 0.134, "2K": 0.134, "4K": 0.24},
    "gemini-2.5-flash-image": {"1K": 0.039, "2K": 0.039, "4K": 0.039},
    "gemini-2.5-flash-image-preview": {"1K": 0.039, "2K": 0.039, "4K": 0.039},
}


# ----- small pure helpers ------------------------------------------------------------------


def size_for_step(image_size: str, step: int) -> str | None:
    """The output size requested at `step` (None: let the server choose)."""
    if image_size == "auto":
        return None
    if image_size == "interleaved":
        return IMAGE_SIZES[(max(step, 1) - 1) % len(IMAGE_SIZES)]
    return image_size


def derive_seed(base_seed: int, seed: int, step: int, mode: str) -> int:
    """The editor seed sent with a request, in the API's non-negative int32 range.

    'fixed': one seed per run (every step of run `seed` uses the same value), as in the
    study's fixed-seed setting. 'per-step': a different seed at every step; steps of one run
    are 10 000 apart from the next run's, so runs of up to 10 000 steps never share a seed.
    """
    if mode == "fixed":
        value = base_seed + seed
    elif mode == "per-step":
        value = base_seed + seed * 10_000 + step
    else:
        raise ConfigError(explain("seed_mode", expected=" or ".join(SEED_MODES), got=repr(mode), fix="Use seed_mode=fixed or seed_mode=per-step."))
    return value % 2**31


def estimate_cost(model: str, image_size: str, steps: int) -> float:
    """Upper-bound USD cost of `steps` edits (output images only; see PRICE_PER_IMAGE_USD)."""
    if steps < 0:
        raise ConfigError(explain("steps", expected="a non-negative number of steps", got=str(steps), fix="Pass the number of paid steps to build."))
    if image_size not in SIZE_CHOICES:
        raise ConfigError(explain("image_size", expected=", ".join(SIZE_CHOICES), got=repr(image_size), fix="Use one of the listed sizes."))
    table = PRICE_PER_IMAGE_USD.get(model)
    total = 0.0
    for step in range(1, steps + 1):
        size = size_for_step(image_size, step) or "1K"
        total += table[size] if table else max(p[size] for p in PRICE_PER_IMAGE_USD.values())
    return round(total, 6)


def api_key_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The API key from the environment, or a ConfigError naming the variables to set."""
    env = os.environ if environ is None else environ
    for name in KEY_ENV_VARS:
        value = (env.get(name) or "").strip()
        if value:
            return value
    raise ConfigError(
        explain(
            "Gemini API key",
            expected=f"the environment variable {KEY_ENV_VARS[1]} (or {KEY_ENV_VARS[0]}) to hold a key",
            got="neither is set",
            fix=f"Run `export {KEY_ENV_VARS[1]}=...` with a key from https://aistudio.google.com/apikey, or choose a free editor.",
        )
    )


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "[redacted]") if secret else text


def _resolve_base_url(value: str | None) -> str | None:
    """The explicit base_url, else $GOOGLE_GEMINI_BASE_URL, else None (Google's endpoint)."""
    if value is None or str(value).strip().lower() in ("", "none", "default"):
        value = os.environ.get(BASE_URL_ENV_VAR)
    return str(value).strip() if value else None


def _safe_base_url(url: str | None) -> str | None:
    """The base URL without userinfo, query or fragment (it enters meta, reprs and messages)."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def _import_genai() -> tuple[Any, Any, Any]:
    try:
        from google import genai
        from google.genai import errors, types
    except ImportError:
        raise ConfigError(
            explain("google-genai", expected="the package to be installed", got="ImportError", fix="Run `pip install google-genai`.")
        ) from None
    return genai, types, errors


def _make_client(api_key: str, base_url: str | None, timeout_s: float) -> Any:
    genai, types, _ = _import_genai()
    http_options = types.HttpOptions(
        base_url=base_url,
        # Google documents image generation (image_config, thought summaries) on v1beta;
        # google-genai 3.x defaults to v1.
        api_version="v1beta",
        timeout=int(timeout_s * 1000),  # milliseconds
        # One attempt per call: retries are ours, so request counts stay deterministic.
        retry_options=types.HttpRetryOptions(attempts=1),
    )
    return genai.Client(api_key=api_key, vertexai=False, http_options=http_options)


def _transport_errors() -> tuple[type[BaseException], ...]:
    # google-genai 3.x talks through httpx2 (a fork of httpx under its own name); older
    # versions through httpx. A dropped connection or timeout is worth retrying either way.
    found: list[type[BaseException]] = []
    for module in ("httpx2", "httpx"):
        try:
            found.append(__import__(module).TransportError)
        except (ImportError, AttributeError):
            pass
    return tuple(found)


# ----- retries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Failure:
    retryable: bool
    summary: str  # scrubbed, one line
    status: int | None = None
    malformed: bool = False
    server_delay_s: float | None = None  # the server's RetryInfo.retryDelay, if it sent one


def _retry_delay(details: Any) -> float | None:
    """RetryInfo.retryDelay ("37s") from a Google error body, which rate-limit replies carry."""
    error = details.get("error", {}) if isinstance(details, dict) else {}
    for item in error.get("details", []) if isinstance(error, dict) else []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("RetryInfo"):
            match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _classify(exc: BaseException, errors_module: Any, secret: str | None) -> _Failure | None:
    """What a failed call means; None for exceptions that are not about the request."""
    if isinstance(exc, errors_module.APIError):
        code = int(getattr(exc, "code", 0) or 0)
        message = _scrub(str(getattr(exc, "message", "") or ""), secret)[:300]
        status = getattr(exc, "status", None) or ""
        retryable = code in RETRYABLE_STATUS or code >= 500
        return _Failure(retryable, f"HTTP {code} {status}: {message}".strip(), code, server_delay_s=_retry_delay(getattr(exc, "details", None)))
    transport = _transport_errors()
    if transport and isinstance(exc, transport):
        return _Failure(True, f"connection problem ({type(exc).__name__}: {_scrub(str(exc), secret)[:200]})")
    # The SDK parses the body with json.loads and validates it with pydantic: both raise
    # ValueError subclasses (UnknownApiResponseError is one too) on a malformed reply.
    if isinstance(exc, ValueError):
        return _Failure(False, f"a malformed reply ({type(exc).__name__}: {_scrub(str(exc), secret)[:200]})", malformed=True)
    return None


def _call_with_retries(
    call: Callable[[], Any],
    *,
    what: str,
    max_retries: int,
    sleep: Callable[[float], None],
    secret: str | None,
) -> tuple[Any, int]:
    """Run `call`, retrying transient failures; returns (result, attempts)."""
    _, _, errors_module = _import_genai()
    attempts = 0
    while True:
        attempts += 1
        try:
            return call(), attempts
        except Exception as exc:
            failure = _classify(exc, errors_module, secret)
            if failure is None:
                raise
            if failure.retryable and attempts <= max_retries:
                # Our backoff, or longer when the server says how long to wait (capped).
                delay = max(INITIAL_BACKOFF_S * 2 ** (attempts - 1), failure.server_delay_s or 0.0)
                sleep(min(delay, MAX_BACKOFF_S))
                continue
            raise EditorError(_failure_message(what, failure, attempts)) from None


def _failure_message(what: str, failure: _Failure, attempts: int) -> str:
    if failure.malformed:
        return explain(what, expected="a JSON reply in the Gemini REST shape", got=failure.summary, fix="Retry later; if it persists, check base_url points at the Gemini API (or a faithful proxy).")
    if failure.retryable:
        return explain(
            what,
            expected="a reply",
            got=f"{failure.summary} on all {attempts} attempts",
            fix="The service is overloaded or rate-limited: wait and re-run (chains resume from their last stored step), or raise max_retries.",
        )
    if failure.status in (401, 403) or "api key" in failure.summary.lower():
        fix = f"Check the key in ${KEY_ENV_VARS[1]} / ${KEY_ENV_VARS[0]} (not shown here) is valid and has access to the model."
    elif failure.status == 404:
        fix = "Check the model name (e.g. `gemini:model=gemini-3-pro-image-preview`)."
    else:
        fix = "Check the model name and parameters (image_size, temperature, thoughts); this request was not retried."
    return explain(what, expected="a successful reply", got=failure.summary, fix=fix)


# ----- request / reply ---------------------------------------------------------------------

_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def _image_part(types: Any, image: Image) -> Any:
    data = image.data()
    mime = _MIME.get(image.format)
    if mime is None:  # gif, bmp, tiff...: send the pixels as PNG, which Gemini accepts
        data, mime = encode_png(image.pixels), "image/png"
    return types.Part.from_bytes(data=data, mime_type=mime)


def _enum_name(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _usage(response: Any) -> dict[str, int]:
    usage = getattr(response, "usage_metadata", None)
    fields = ("prompt_token_count", "candidates_token_count", "thoughts_token_count", "total_token_count")
    return {f: int(getattr(usage, f)) for f in fields if usage is not None and getattr(usage, f, None) is not None}


@dataclass(frozen=True)
class _Reply:
    """The parts of a generateContent reply this module uses, already sorted out."""

    image_data: bytes | None
    image_mime: str | None
    thought_signature: bytes | None
    thoughts: str | None
    text: str | None
    finish_reason: str | None
    block_reason: str | None
    content: Any  # the candidate's Content, kept for chat history
    meta: dict[str, Any]


def _read_reply(response: Any, secret: str | None) -> _Reply:
    candidates = list(getattr(response, "candidates", None) or [])
    feedback = getattr(response, "prompt_feedback", None)
    block_reason = _enum_name(getattr(feedback, "block_reason", None)) if feedback is not None else None
    candidate = candidates[0] if candidates else None
    content = getattr(candidate, "content", None)
    parts = list(getattr(content, "parts", None) or [])
    image = next(
        (
            p
            for p in parts
            if getattr(p, "inline_data", None) is not None
            and getattr(p.inline_data, "data", None)
            and str(getattr(p.inline_data, "mime_type", "") or "").startswith("image/")
            and not getattr(p, "thought", False)  # Gemini 3 may send draft "thought images"
        ),
        None,
    )
    thoughts = "\n\n".join(p.text for p in parts if getattr(p, "thought", False) and getattr(p, "text", None))
    text = "\n\n".join(p.text for p in parts if not getattr(p, "thought", False) and getattr(p, "text", None))
    finish = _enum_name(getattr(candidate, "finish_reason", None))
    meta: dict[str, Any] = {
        "model_version": getattr(response, "model_version", None),
        "finish_reason": finish,
        "usage": _usage(response),
        "response_id": getattr(response, "response_id", None),
    }
    if block_reason:
        meta["block_reason"] = block_reason
    if text:
        meta["text"] = _scrub(text, secret)
    return _Reply(
        image_data=bytes(image.inline_data.data) if image is not None else None,
        image_mime=str(image.inline_data.mime_type) if image is not None else None,
        thought_signature=getattr(image, "thought_signature", None) if image is not None else None,
        thoughts=_scrub(thoughts, secret) or None,
        text=_scrub(text, secret) or None,
        finish_reason=finish,
        block_reason=block_reason,
        content=content,
        meta=meta,
    )


def _decode_reply_image(data: bytes, what: str) -> Image:
    source = f"the image in {what}'s reply"
    try:
        return decode_image(data, source=source)
    except BadImageError as e:
        raise EditorError(f"{e} (a malformed reply; nothing was stored)") from None
    except (OSError, SyntaxError, ValueError) as e:  # Pillow can fail while reading the header
        raise EditorError(
            explain(source, expected="PNG or JPEG bytes", got=f"{len(data)} bytes that fail to decode ({type(e).__name__}: {e})", fix="A malformed reply; nothing was stored. Re-run to retry the step.")
        ) from None


def _refusal_reason(reply: _Reply, wanted: str) -> str:
    if reply.block_reason:
        return f"prompt blocked ({reply.block_reason})"
    said = f"; the model said: {reply.text[:200]!r}" if reply.text else ""
    if reply.finish_reason and reply.finish_reason != "STOP":
        return f"no {wanted} returned (finish reason {reply.finish_reason}){said}"
    return f"no {wanted} in the reply{said}"


# ----- the editor --------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatTurn:
    """One stored step of a chat session, enough to rebuild the history on resume."""

    prompt: str
    input: Image | None  # the image sent with this turn (None when the turn was text only)
    output: Image
    thought_signature: str | None = None  # meta["thought_signature"] of that step


class GeminiEditor:
    """Edits an image with a Gemini image model (one generateContent request per step)."""

    paid = True

    def __init__(
        self,
        *,
        model: str = DEFAULT_IMAGE_MODEL,
        temperature: float | str | None = None,
        seed_mode: str = "fixed",
        base_seed: int = 0,
        image_size: str = "2K",
        session: str = "fresh",
        thoughts: bool = True,
        base_url: str | None = None,
        max_retries: int = 5,
        timeout_s: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.model = _check_model(model)
        self.temperature = _check_temperature(temperature)
        self.seed_mode = _check_choice("seed_mode", str(seed_mode).replace("_", "-"), SEED_MODES)
        self.base_seed = _check_int("base_seed", base_seed, low=0)
        self.image_size = _check_choice("image_size", str(image_size), SIZE_CHOICES)
        self.session = _check_choice("session", str(session), SESSIONS)
        self.thoughts = _check_bool("thoughts", thoughts)
        # The URL used for requests; params() and reprs show it without userinfo or query.
        self._raw_base_url = _resolve_base_url(base_url)
        self.base_url = _safe_base_url(self._raw_base_url)
        self.max_retries = _check_int("max_retries", max_retries, low=0, high=20)
        self.timeout_s = float(timeout_s)
        self._sleep = sleep
        self.id = self.model
        self.version = ADAPTER_VERSION
        self._client_obj: Any = None
        self._history: list[Any] = []  # chat mode: alternating user / model Content
        self._last_step: int | None = None
        self._last_output: bytes | None = None

    # ----- Editor protocol ---------------------------------------------------------------
    def params(self) -> Mapping[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "temperature": self.temperature,
            "seed_mode": self.seed_mode,
            "base_seed": self.base_seed,
            "image_size": self.image_size,
            "session": self.session,
            "thoughts": self.thoughts,
        }
        # base_url is left out on purpose: a proxy answers like the API, and a local test
        # server listens on a new port each run, which would otherwise re-key (and so
        # rebuild) every chain. Each step's meta records the endpoint instead.
        return out

    def edit(self, image: Image, prompt: str, *, seed: int, step: int) -> EditResult:
        _, types, _ = _import_genai()
        size = size_for_step(self.image_size, step)
        request_seed = derive_seed(self.base_seed, seed, step, self.seed_mode)
        what = f"Gemini {self.model} edit (step {step})"
        user_turn = self._user_turn(types, image, prompt, step)
        contents = [*self._history, user_turn]  # the history is empty in fresh sessions
        config = types.GenerateContentConfig(
            response_modalities=["TEXT", "IMAGE"],
            seed=request_seed,
            temperature=self.temperature,
            image_config=types.ImageConfig(image_size=size) if size else None,
            thinking_config=types.ThinkingConfig(include_thoughts=True) if self.thoughts else None,
            automatic_continuation=False,
        )
        client, secret = self._client()
        response, attempts = _call_with_retries(
            lambda: client.models.generate_content(model=self.model, contents=contents, config=config),
            what=what,
            max_retries=self.max_retries,
            sleep=self._sleep,
            secret=secret,
        )
        reply = _read_reply(response, secret)
        meta = {**reply.meta, "attempts": attempts, "seed": request_seed, "image_size": size}
        if self.base_url:
            meta["endpoint"] = self.base_url
        if reply.image_data is None:
            raise EditRefused(_refusal_reason(reply, "image"), meta)
        out = _decode_reply_image(reply.image_data, what)
        meta["image_mime"] = reply.image_mime
        if self.session == "chat":
            if reply.thought_signature:
                meta["thought_signature"] = base64.b64encode(reply.thought_signature).decode()
            self._history += [user_turn, reply.content]
            self._last_step, self._last_output = step, out.data()
        return EditResult(image=out, reasoning=reply.thoughts, meta=meta)

    # ----- chat history -------------------------------------------------------------------
    def restore_history(self, turns: Sequence[ChatTurn], *, last_step: int) -> None:
        """Rebuild a chat session from stored steps (in order), before resuming at last_step + 1."""
        if self.session != "chat":
            raise ConfigError(explain("restore_history", expected="session=chat", got=f"session={self.session}", fix="Only chat sessions keep a history."))
        _, types, _ = _import_genai()
        history: list[Any] = []
        for turn in turns:
            parts = ([_image_part(types, turn.input)] if turn.input is not None else []) + [types.Part.from_text(text=turn.prompt)]
            history.append(types.Content(role="user", parts=parts))
            out_part = _image_part(types, turn.output)
            if turn.thought_signature:
                out_part = types.Part(inline_data=out_part.inline_data, thought_signature=base64.b64decode(turn.thought_signature))
            history.append(types.Content(role="model", parts=[out_part]))
        self._history = history
        self._last_step = last_step if turns else None
        self._last_output = turns[-1].output.data() if turns else None

    def _user_turn(self, types: Any, image: Image, prompt: str, step: int) -> Any:
        if self.session == "chat":
            if self._history and self._last_step is not None and step != self._last_step + 1:
                raise ConfigError(
                    explain(
                        f"{self.model} chat session",
                        expected=f"step {self._last_step + 1} next",
                        got=f"step {step}",
                        fix="Chat steps must run in order in one editor instance; use session=fresh for independent steps.",
                    )
                )
            if not self._history and step > 1:
                raise ConfigError(
                    explain(
                        f"{self.model} chat session",
                        expected=f"the history of steps 1..{step - 1}",
                        got="an empty history (a resumed chain in a new process?)",
                        fix="Call editor.restore_history(turns, last_step=...) with the stored steps first, or rebuild the chain from step 1.",
                    )
                )
            if self._history and image.data() == self._last_output:
                # The model already holds this image as its own last turn: send only the words.
                return types.Content(role="user", parts=[types.Part.from_text(text=prompt)])
        return types.Content(role="user", parts=[_image_part(types, image), types.Part.from_text(text=prompt)])

    def _client(self) -> tuple[Any, str]:
        key = api_key_from_env()
        if self._client_obj is None:
            self._client_obj = _make_client(key, self._raw_base_url, self.timeout_s)
        return self._client_obj, key

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        endpoint = f", base_url={self.base_url!r}" if self.base_url else ""
        return f"GeminiEditor({inner}{endpoint})"


# ----- text questions (VLM object counter, LLM judge) --------------------------------------


class GeminiTextClient:
    """Asks a Gemini model a question, optionally about an image; returns the answer text."""

    def __init__(
        self,
        *,
        model: str = DEFAULT_TEXT_MODEL,
        base_url: str | None = None,
        temperature: float | None = 0.0,
        max_retries: int = 5,
        timeout_s: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.model = _check_model(model)
        self.temperature = _check_temperature(temperature)
        self.max_retries = _check_int("max_retries", max_retries, low=0, high=20)
        self._base_url = _resolve_base_url(base_url)
        self.timeout_s = float(timeout_s)
        self._sleep = sleep
        self._client_obj: Any = None

    def ask(self, image: Image | None, question: str) -> str:
        _, types, _ = _import_genai()
        key = api_key_from_env()
        if self._client_obj is None:
            self._client_obj = _make_client(key, self._base_url, self.timeout_s)
        client = self._client_obj
        parts = ([_image_part(types, image)] if image is not None else []) + [types.Part.from_text(text=question)]
        config = types.GenerateContentConfig(temperature=self.temperature, automatic_continuation=False)
        what = f"Gemini {self.model} question"
        response, attempts = _call_with_retries(
            lambda: client.models.generate_content(model=self.model, contents=parts, config=config),
            what=what,
            max_retries=self.max_retries,
            sleep=self._sleep,
            secret=key,
        )
        reply = _read_reply(response, key)
        if not reply.text:
            raise EditRefused(_refusal_reason(reply, "text"), {**reply.meta, "attempts": attempts})
        return reply.text

    def __repr__(self) -> str:
        return f"GeminiTextClient(model={self.model!r}, base_url={_safe_base_url(self._base_url)!r})"


def ask_about_image(
    image: Image | None,
    question: str,
    *,
    model: str = DEFAULT_TEXT_MODEL,
    base_url: str | None = None,
    temperature: float | None = 0.0,
    max_retries: int = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """One question (with an optional image) to a Gemini model; the answer's text."""
    client = GeminiTextClient(model=model, base_url=base_url, temperature=temperature, max_retries=max_retries, sleep=sleep)
    return client.ask(image, question)


# ----- parameter checks ----------------------------------------------------------------------


def _check_model(model: Any) -> str:
    name = model.strip().removeprefix("models/") if isinstance(model, str) else ""
    if not name or any(c in name for c in " /:?#"):
        raise ConfigError(explain("model", expected="a Gemini model name such as gemini-3-pro-image-preview", got=repr(model), fix="Pass model=<name>."))
    return name


def _check_temperature(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.lower() in ("", "none", "default")):
        return None
    try:
        t = float(value)
    except (TypeError, ValueError):
        t = -1.0
    if not 0.0 <= t <= 2.0:
        raise ConfigError(explain("temperature", expected="a number in [0, 2] or none (server default)", got=repr(value), fix="The study used 0 and 0.4."))
    return t


def _check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ConfigError(explain(name, expected="one of " + ", ".join(choices), got=repr(value), fix=f"Pass {name}=<one of them>."))
    return value


def _check_int(name: str, value: Any, *, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"an integer >= {low}" + (f" and <= {high}" if high is not None else "")
        raise ConfigError(explain(name, expected=bound, got=repr(value), fix=f"Pass {name}=<integer>."))
    return value


def _check_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ConfigError(explain(name, expected="true or false", got=repr(value), fix=f"Pass {name}=true or {name}=false."))


# ----- table rows (editors.registry lists them) ------------------------------------------

_COMMON: dict[str, Any] = {"temperature": None, "seed_mode": "fixed", "base_seed": 0, "session": "fresh", "base_url": None, "max_retries": 5, "timeout_s": 300.0}


def _cost(params: Mapping[str, Any], steps: int) -> float:
    return estimate_cost(params["model"], params["image_size"], steps)


EDITORS: tuple[EditorEntry, ...] = (
    EditorEntry.of(
        "gemini",
        GeminiEditor,
        summary="Gemini image model via google-genai (paid; needs GEMINI_API_KEY). Param model= picks the model.",
        cost=_cost,
        model=DEFAULT_IMAGE_MODEL,
        image_size="2K",
        thoughts=True,
        **_COMMON,
    ),
    EditorEntry.of(
        "nano-banana-pro",
        GeminiEditor,
        summary="Nano Banana Pro = gemini-3-pro-image-preview (paid; needs GEMINI_API_KEY).",
        cost=_cost,
        model="gemini-3-pro-image-preview",
        image_size="2K",
        thoughts=True,
        **_COMMON,
    ),
    EditorEntry.of(
        "nano-banana",
        GeminiEditor,
        summary="Nano Banana = gemini-2.5-flash-image (paid; needs GEMINI_API_KEY; one output size, no thoughts).",
        cost=_cost,
        model="gemini-2.5-flash-image",
        image_size="auto",
        thoughts=False,
        **_COMMON,
    ),
)

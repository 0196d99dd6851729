"""The shared Gemini (google-genai) client: one request with deterministic retries, its
reply sorted out, and a text-question helper. Used by the Gemini image editor
(`editors.gemini`), the VLM object counter (`counting`) and the LLM judge (`self_eval`),
none of which needs to import an editor for it.

Decisions worth knowing:

- The API key comes only from the environment (GOOGLE_API_KEY, else GEMINI_API_KEY: the
  SDK's own precedence) and only when a request is about to be sent; every message built
  from a server reply is scrubbed of it.
- google-genai's own retries are switched off (attempts=1) and so is its automatic
  "continuation" follow-up; `_call_with_retries` retries 408/429/5xx and connections that
  never opened itself with a deterministic backoff (1, 2, 4, ... s, or the server's
  RetryInfo delay when longer, capped at 60 s, no jitter), so the number of requests per
  call is known and testable. The sleep function is injectable for tests.
- A request that was SENT and got no reply (read timeout, connection dropped or reset
  after sending) is never retried: the model may have done, and billed, the work. It
  raises `OutcomeUnknown` (the chain stores the step as 'unknown' and stops until the user
  allows a resend). Which transport errors count as "not sent" is SENT_SAFE_ERRORS.
- A 200 reply that is not the API's JSON raises `UnusableReply` (the chain keeps it as a
  failed step and never buys it again).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from iqa_audit.core.console import cli_command
from iqa_audit.core.errors import ConfigError, EditorError, EditRefused, OutcomeUnknown, UnusableReply, explain
from iqa_audit.core.images import Image, encode_png
from iqa_audit.core.urls import safe_url

# ----- environment and connection -----------------------------------------------------------

KEY_ENV_VARS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")  # google-genai's precedence
BASE_URL_ENV_VAR = "GOOGLE_GEMINI_BASE_URL"
DEFAULT_TEXT_MODEL = "gemini-2.5-flash"
RETRYABLE_STATUS = frozenset({408, 429})  # plus every 5xx
INITIAL_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0


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
    return safe_url(url) or None


def _import_genai() -> tuple[Any, Any, Any]:
    try:
        from google import genai
        from google.genai import errors, types
    except ImportError:
        raise ConfigError(
            explain(
                "google-genai", expected="the package to be installed", got="ImportError", fix="Run `pip install google-genai`."
            )
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


# httpx transport errors raised before any byte of the request left: the connection never
# opened (refused, DNS, connect timeout), no pooled connection came free, or the URL or
# request could not be used. Only these are retried: after any other transport error the
# server may have received the request (a read timeout, a reset while waiting, a reply cut
# short), and sending it again could pay twice.
SENT_SAFE_ERRORS = ("ConnectError", "ConnectTimeout", "PoolTimeout", "UnsupportedProtocol", "LocalProtocolError")


def _transport_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(errors where nothing was sent, every transport error). google-genai 3.x talks
    through httpx2 (a fork of httpx under its own name); older versions through httpx."""
    safe: list[type[BaseException]] = []
    every: list[type[BaseException]] = []
    for module in ("httpx2", "httpx"):
        try:
            mod = __import__(module)
        except ImportError:
            continue
        every.append(mod.TransportError)
        safe += [getattr(mod, name) for name in SENT_SAFE_ERRORS if hasattr(mod, name)]
    return tuple(safe), tuple(every)


# ----- retries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Failure:
    retryable: bool
    summary: str  # scrubbed, one line
    status: int | None = None
    malformed: bool = False
    server_delay_s: float | None = None  # the server's RetryInfo.retryDelay, if it sent one
    sent: bool = False  # the request went out and no reply came: its outcome is unknown


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
        return _Failure(
            retryable,
            f"HTTP {code} {status}: {message}".strip(),
            code,
            server_delay_s=_retry_delay(getattr(exc, "details", None)),
        )
    not_sent, transport = _transport_errors()
    if transport and isinstance(exc, transport):
        what = f"{type(exc).__name__}: {_scrub(str(exc), secret)[:200]}"
        if not_sent and isinstance(exc, not_sent):
            return _Failure(True, f"connection problem ({what})")
        return _Failure(False, f"no reply after the request was sent ({what})", sent=True)
    # The SDK parses the body with json.loads and validates it with pydantic: both raise
    # ValueError subclasses (UnknownApiResponseError is one too) on a malformed reply.
    if isinstance(exc, ValueError):
        return _Failure(False, f"a malformed reply ({type(exc).__name__}: {_scrub(str(exc), secret)[:200]})", malformed=True)
    return None


def _call_with_retries(
    call: Callable[[], Any], *, what: str, max_retries: int, sleep: Callable[[float], None], secret: str | None
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
            if failure.sent:
                raise OutcomeUnknown(f"{what}: {failure.summary}", {"attempts": attempts}) from None
            if failure.malformed:
                raise UnusableReply(_failure_message(what, failure, attempts), None, {"attempts": attempts}) from None
            raise EditorError(_failure_message(what, failure, attempts)) from None


def _failure_message(what: str, failure: _Failure, attempts: int) -> str:
    if failure.malformed:
        return explain(
            what,
            expected="a JSON reply in the Gemini REST shape",
            got=failure.summary,
            fix="The step is kept as failed and not bought again; check base_url points at the Gemini API (or a "
            f"faithful proxy), then `{cli_command('forget', '--chain', 'KEY', '--from-step', 'K')}` asks for it anew.",
        )
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


# ----- request / reply ----------------------------------------------------------------------


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


def _refusal_reason(reply: _Reply, wanted: str) -> str:
    if reply.block_reason:
        return f"prompt blocked ({reply.block_reason})"
    said = f"; the model said: {reply.text[:200]!r}" if reply.text else ""
    if reply.finish_reason and reply.finish_reason != "STOP":
        return f"no {wanted} returned (finish reason {reply.finish_reason}){said}"
    return f"no {wanted} in the reply{said}"


# ----- text questions (VLM object counter, LLM judge) ---------------------------------------


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


# ----- parameter checks ---------------------------------------------------------------------


def _check_model(model: Any) -> str:
    name = model.strip().removeprefix("models/") if isinstance(model, str) else ""
    if not name or any(c in name for c in " /:?#"):
        raise ConfigError(
            explain(
                "model",
                expected="a Gemini model name such as gemini-3-pro-image-preview",
                got=repr(model),
                fix="Pass model=<name>.",
            )
        )
    return name


def _check_temperature(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.lower() in ("", "none", "default")):
        return None
    try:
        t = float(value)
    except (TypeError, ValueError):
        t = -1.0
    if not 0.0 <= t <= 2.0:
        raise ConfigError(
            explain(
                "temperature",
                expected="a number in [0, 2] or none (server default)",
                got=repr(value),
                fix="The study used 0 and 0.4.",
            )
        )
    return t


def _check_int(name: str, value: Any, *, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"an integer >= {low}" + (f" and <= {high}" if high is not None else "")
        raise ConfigError(explain(name, expected=bound, got=repr(value), fix=f"Pass {name}=<integer>."))
    return value

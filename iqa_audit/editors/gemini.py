"""Gemini image editors ("Nano Banana") through google-genai (the client: iqa_audit.vlm.client).

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
  "continuation" follow-up; the client (genai_client) retries 408/429/5xx and connections
  that never opened with a deterministic backoff (1, 2, 4, ... s, or the server's
  RetryInfo delay when longer, capped at 60 s, no jitter), so the number of requests per
  step is known and testable. The sleep function is injectable for tests.
- A request that was SENT and got no reply (read timeout, connection dropped or reset
  after sending) is never retried: the model may have made the image and billed it. It
  raises `OutcomeUnknown`; the chain stores the step as 'unknown' and stops, and only the
  user can have it sent again (--resend-unknown). Which transport errors count as "not
  sent" is genai_client.SENT_SAFE_ERRORS: failures to connect, nothing else.
- A reply without an image (safety block, NO_IMAGE, prompt blocked, text only) raises
  `EditRefused`: the chain records the refusal instead of paying for the same refusal again.
  A 200 reply that is not valid JSON, or whose image does not decode or is over the pixel
  limit, raises `UnusableReply` (with the image's raw bytes when there are some): the chain
  stores it as a failed step and never buys it again.
- The adapter's `version` does not include the SDK version: upgrading google-genai must not
  invalidate chains that cost money to build. Bump ADAPTER_VERSION when this module changes
  what is sent or how the reply becomes an image.

Chat sessions (`session="chat"`): the `Editor.edit` signature only carries the current image,
so the chat history lives in the editor instance. A resumed chain rebuilds it: the chain
builder calls `resume(prior_steps)` with the stored steps, which become the same history
an uninterrupted session holds (each model turn is the stored image plus its
`thought_signature`, which Gemini 3 needs to accept its own earlier images; thought text is
not sent back), so a resumed request equals the uninterrupted one. Without that, `edit`
refuses any step after the first with a ConfigError rather than send a history-less request.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iqa_audit.core.console import cli_command
from iqa_audit.core.decode import decode_image
from iqa_audit.core.errors import BadImageError, ConfigError, EditRefused, UnusableReply, explain
from iqa_audit.core.images import Image
from iqa_audit.editors.base import SEED_MODES, EditorEntry, EditResult, PriorStep, derive_seed
from iqa_audit.vlm.client import BASE_URL_ENV_VAR as BASE_URL_ENV_VAR
from iqa_audit.vlm.client import DEFAULT_TEXT_MODEL as DEFAULT_TEXT_MODEL
from iqa_audit.vlm.client import INITIAL_BACKOFF_S as INITIAL_BACKOFF_S
from iqa_audit.vlm.client import KEY_ENV_VARS as KEY_ENV_VARS
from iqa_audit.vlm.client import MAX_BACKOFF_S as MAX_BACKOFF_S
from iqa_audit.vlm.client import RETRYABLE_STATUS as RETRYABLE_STATUS
from iqa_audit.vlm.client import GeminiTextClient as GeminiTextClient
from iqa_audit.vlm.client import (
    _call_with_retries,
    _check_int,
    _check_model,
    _check_temperature,
    _image_part,
    _import_genai,
    _make_client,
    _read_reply,
    _refusal_reason,
    _resolve_base_url,
    _safe_base_url,
    api_key_from_env,
)
from iqa_audit.vlm.client import ask_about_image as ask_about_image

ADAPTER_VERSION = "gemini-adapter-1"

DEFAULT_IMAGE_MODEL = "gemini-3-pro-image-preview"

IMAGE_SIZES = ("1K", "2K", "4K")
# "interleaved" cycles 1K -> 2K -> 4K by step (step 1 = 1K); "auto" sends no size at all
# (gemini-2.5-flash-image has a single output size and may reject the field).
SIZE_CHOICES = IMAGE_SIZES + ("interleaved", "auto")
SESSIONS = ("fresh", "chat")


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


def estimate_cost(model: str, image_size: str, steps: int) -> float:
    """Upper-bound USD cost of `steps` edits (output images only; see PRICE_PER_IMAGE_USD)."""
    if steps < 0:
        raise ConfigError(
            explain(
                "steps", expected="a non-negative number of steps", got=str(steps), fix="Pass the number of paid steps to build."
            )
        )
    if image_size not in SIZE_CHOICES:
        raise ConfigError(
            explain("image_size", expected=", ".join(SIZE_CHOICES), got=repr(image_size), fix="Use one of the listed sizes.")
        )
    table = PRICE_PER_IMAGE_USD.get(model)
    total = 0.0
    for step in range(1, steps + 1):
        size = size_for_step(image_size, step) or "1K"
        total += table[size] if table else max(p[size] for p in PRICE_PER_IMAGE_USD.values())
    return round(total, 6)


# ----- request / reply ---------------------------------------------------------------------


def _decode_reply_image(data: bytes, what: str, meta: Mapping[str, Any]) -> Image:
    """The reply's image, or UnusableReply carrying its raw bytes (a paid answer is evidence:
    the chain stores it as a failed step and does not buy it again)."""
    source = f"the image in {what}'s reply"
    kept = "a malformed reply, kept as a failed step with its raw bytes and not requested again"
    try:
        return decode_image(data, source=source)
    except BadImageError as e:  # undecodable, or over decode.MAX_PIXELS
        raise UnusableReply(f"{e} ({kept})", data, meta) from None
    except (OSError, SyntaxError, ValueError) as e:  # Pillow can fail while reading the header
        raise UnusableReply(
            explain(
                source,
                expected="PNG or JPEG bytes",
                got=f"{len(data)} bytes that fail to decode ({type(e).__name__}: {e})",
                fix=f"This is {kept}; `{cli_command('forget', '--chain', 'KEY', '--from-step', 'K')}` asks for it anew.",
            ),
            data,
            meta,
        ) from None


def _model_turn(types: Any, output: Image, thought_signature: str | None) -> Any:
    """A model turn of a chat history: the image it answered with, and its thought signature
    (base64, as stored in meta). Built the same way live and on resume."""
    part = _image_part(types, output)
    if thought_signature:
        part = types.Part(inline_data=part.inline_data, thought_signature=base64.b64decode(thought_signature))
    return types.Content(role="model", parts=[part])


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
        meta["image_mime"] = reply.image_mime
        out = _decode_reply_image(reply.image_data, what, {**meta, "reasoning": reply.thoughts})
        if self.session == "chat":
            signature = base64.b64encode(reply.thought_signature).decode() if reply.thought_signature else None
            if signature:
                meta["thought_signature"] = signature
            # The model turn as a resumed chain rebuilds it from the store (_model_turn), so
            # an interrupted session sends exactly what an uninterrupted one does.
            self._history += [user_turn, _model_turn(types, out, signature)]
            self._last_step, self._last_output = step, out.data()
        return EditResult(image=out, reasoning=reply.thoughts, meta=meta)

    # ----- chat history -------------------------------------------------------------------
    def resume(self, prior: Sequence[PriorStep]) -> None:
        """Editor hook: rebuild a chat session from a resumed chain's stored steps 1..k (the
        chain builder calls it before step k+1). A fresh session keeps no state: nothing to do."""
        if self.session != "chat" or not prior:
            return
        turns, previous_output = [], None
        for p in prior:
            # A chat turn sends its input image unless the model already holds it as its own
            # last output (as _user_turn decides when the session runs uninterrupted).
            sent = None if previous_output is not None and p.input.data() == previous_output else p.input
            turns.append(ChatTurn(p.prompt, sent, p.output, p.meta.get("thought_signature")))
            previous_output = p.output.data()
        self.restore_history(turns, last_step=prior[-1].step)

    def restore_history(self, turns: Sequence[ChatTurn], *, last_step: int) -> None:
        """Rebuild a chat session from stored steps (in order), before resuming at last_step + 1."""
        if self.session != "chat":
            raise ConfigError(
                explain(
                    "restore_history",
                    expected="session=chat",
                    got=f"session={self.session}",
                    fix="Only chat sessions keep a history.",
                )
            )
        _, types, _ = _import_genai()
        history: list[Any] = []
        for turn in turns:
            parts = ([_image_part(types, turn.input)] if turn.input is not None else []) + [
                types.Part.from_text(text=turn.prompt)
            ]
            history.append(types.Content(role="user", parts=parts))
            history.append(_model_turn(types, turn.output, turn.thought_signature))
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


# ----- parameter checks ----------------------------------------------------------------------


def _check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ConfigError(
            explain(name, expected="one of " + ", ".join(choices), got=repr(value), fix=f"Pass {name}=<one of them>.")
        )
    return value


def _check_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ConfigError(explain(name, expected="true or false", got=repr(value), fix=f"Pass {name}=true or {name}=false."))


# ----- table rows (editors.registry lists them) ------------------------------------------

_COMMON: dict[str, Any] = {
    "temperature": None,
    "seed_mode": "fixed",
    "base_seed": 0,
    "session": "fresh",
    "base_url": None,
    "max_retries": 5,
    "timeout_s": 300.0,
}


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

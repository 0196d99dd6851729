"""The Gemini editor adapter, driven through the real google-genai client against a local fake server."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iqa_audit.core.errors import ConfigError, EditorError, EditRefused, UnusableReply
from iqa_audit.core.images import Image
from iqa_audit.editors.gemini import (
    PRICE_PER_IMAGE_USD,
    ChatTurn,
    GeminiEditor,
    GeminiTextClient,
    api_key_from_env,
    ask_about_image,
    derive_seed,
    estimate_cost,
    size_for_step,
)

try:  # tests/ may or may not be a package, depending on how pytest was configured
    from tests.fake_gemini import THOUGHT_TEXT, FakeGemini, noisy_copy, read_log
except ImportError:  # pragma: no cover - depends on the import mode
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fake_gemini import THOUGHT_TEXT, FakeGemini, noisy_copy, read_log

# Distinctive, so a leak anywhere is found by a plain substring search.
# Almost every test here talks to a local fake server (127.0.0.1 only).
pytestmark = pytest.mark.network

KEY = "AIzaFAKE-leak-canary-7f3e9c1d2b4a"
PROMPT = "Produce an exact replica of the provided image, with no alterations."
FAKE_SERVER = Path(__file__).resolve().parents[1] / "fake_gemini.py"


@pytest.fixture(autouse=True)
def gemini_env(monkeypatch):
    # GOOGLE_API_KEY takes precedence in google-genai and here: clear it so KEY is used.
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_GEMINI_BASE_URL", raising=False)
    monkeypatch.delenv("GOOGLE_GENAI_USE_VERTEXAI", raising=False)
    monkeypatch.delenv("GOOGLE_GENAI_API_VERSION", raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)


@pytest.fixture
def image() -> Image:
    rng = np.random.default_rng(42)
    return Image.from_array(rng.integers(0, 256, size=(96, 128, 3), dtype=np.uint8))


class Sleeps(list):
    """Records the backoff delays instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_editor(fake: FakeGemini, **kw) -> tuple[GeminiEditor, Sleeps]:
    sleeps = Sleeps()
    return GeminiEditor(base_url=fake.base_url, sleep=sleeps, timeout_s=20, **kw), sleeps


def thinking_flag(config: dict) -> bool | None:
    # google-genai passes ThinkingConfig through unconverted (snake_case); the real API's
    # JSON parser accepts both spellings, so the test does too.
    thinking = config.get("thinkingConfig") or {}
    return thinking.get("includeThoughts", thinking.get("include_thoughts"))


# ----- success ---------------------------------------------------------------------------------


def test_success_decodes_image_stores_reasoning_and_sends_everything(image):
    with FakeGemini(api_key=KEY) as fake:
        editor, sleeps = make_editor(fake, temperature=0.4, seed_mode="per-step", base_seed=7, image_size="4K")
        result = editor.edit(image, PROMPT, seed=2, step=3)
        (req,) = fake.requests

    # The reply's exact bytes are kept, and they decode to the server's noisy copy.
    assert result.image.data() == noisy_copy(image.data())
    assert result.image.size == image.size
    assert result.reasoning == THOUGHT_TEXT
    assert result.meta["attempts"] == 1 and sleeps == []
    assert result.meta["finish_reason"] == "STOP"
    assert result.meta["image_mime"] == "image/png"
    assert result.meta["usage"]["total_token_count"] > 0
    assert result.meta["response_id"] == "fake-response-1"
    assert result.meta["model_version"] == "gemini-3-pro-image-preview"

    assert req.path.endswith("/models/gemini-3-pro-image-preview:generateContent")
    assert req.key_ok and req.headers["x-goog-api-key"] == "<redacted>"
    assert req.texts == [PROMPT]
    assert req.images == [image.data()]
    config = req.generation_config
    assert config["seed"] == derive_seed(7, 2, 3, "per-step") == 7 + 20_000 + 3
    assert config["temperature"] == pytest.approx(0.4)
    assert config["imageConfig"] == {"imageSize": "4K"}  # size only: the input aspect ratio is not forced
    assert thinking_flag(config) is True
    assert set(config["responseModalities"]) == {"TEXT", "IMAGE"}


def test_defaults_leave_temperature_to_server_and_can_skip_thoughts(image):
    with FakeGemini(api_key=KEY, script=[{"kind": "image", "thought": None}]) as fake:
        editor, _ = make_editor(fake, thoughts=False)
        result = editor.edit(image, PROMPT, seed=0, step=1)
        config = fake.requests[0].generation_config
    assert "temperature" not in config
    assert thinking_flag(config) is None
    assert result.reasoning is None


def test_jpeg_input_is_sent_as_jpeg_bytes_unchanged(image):
    import io

    buf = io.BytesIO()
    image.to_pil().save(buf, format="JPEG", quality=90)
    jpeg = Image.from_pil(image.to_pil(), encoded=buf.getvalue())
    with FakeGemini(api_key=KEY) as fake:
        make_editor(fake)[0].edit(jpeg, PROMPT, seed=0, step=1)
        body = fake.requests[0].body
    part = body["contents"][0]["parts"][0]["inlineData"]
    assert part.get("mimeType", part.get("mime_type")) == "image/jpeg"
    assert fake.requests[0].images == [buf.getvalue()]


# ----- retries -----------------------------------------------------------------------------------


def test_429_then_success_retries_once_with_backoff(image):
    with FakeGemini(api_key=KEY, script=[{"kind": "error", "status": 429}, "image"]) as fake:
        editor, sleeps = make_editor(fake)
        result = editor.edit(image, PROMPT, seed=0, step=1)
        assert len(fake.requests) == 2
    assert sleeps == [1.0]
    assert result.meta["attempts"] == 2


def test_server_retry_delay_is_honoured_up_to_the_cap(image):
    script = [
        {"kind": "error", "status": 429, "retry_delay": "7s"},
        {"kind": "error", "status": 429, "retry_delay": "900s"},
        "image",
    ]
    with FakeGemini(api_key=KEY, script=script) as fake:
        editor, sleeps = make_editor(fake)
        assert editor.edit(image, PROMPT, seed=0, step=1).meta["attempts"] == 3
    assert sleeps == [7.0, 60.0]


@pytest.mark.parametrize("status", [503, 500, 408])
def test_exhausted_transient_errors_raise_editor_error_after_max_retries(image, status):
    with FakeGemini(api_key=KEY, script=[{"kind": "error", "status": status, "repeat": 50}]) as fake:
        editor, sleeps = make_editor(fake, max_retries=3)
        with pytest.raises(EditorError) as info:
            editor.edit(image, PROMPT, seed=0, step=1)
        assert len(fake.requests) == 3 + 1
    assert sleeps == [1.0, 2.0, 4.0]
    message = str(info.value)
    assert str(status) in message and "4 attempts" in message and "re-run" in message
    assert not isinstance(info.value, EditRefused)


def test_client_error_is_not_retried(image):
    with FakeGemini(api_key=KEY, script=[{"kind": "error", "status": 400, "message": "Unsupported imageSize"}]) as fake:
        editor, sleeps = make_editor(fake, max_retries=5)
        with pytest.raises(EditorError, match="Unsupported imageSize"):
            editor.edit(image, PROMPT, seed=0, step=1)
        assert len(fake.requests) == 1
    assert sleeps == []


def test_connection_refused_is_retried_then_reported(image):
    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = Sleeps()
    editor = GeminiEditor(base_url=f"http://127.0.0.1:{port}", sleep=sleeps, max_retries=2, timeout_s=5)
    with pytest.raises(EditorError, match="connection problem"):
        editor.edit(image, PROMPT, seed=0, step=1)
    assert sleeps == [1.0, 2.0]


# ----- refusals and malformed replies ---------------------------------------------------------------


@pytest.mark.parametrize(
    "action, reason_part",
    [
        ({"kind": "safety", "reason": "SAFETY"}, "SAFETY"),
        ({"kind": "safety", "reason": "IMAGE_SAFETY"}, "IMAGE_SAFETY"),
        ({"kind": "safety", "reason": "PROHIBITED_CONTENT"}, "PROHIBITED_CONTENT"),
        ({"kind": "safety", "reason": "NO_IMAGE"}, "NO_IMAGE"),
        ({"kind": "blocked_prompt", "reason": "SAFETY"}, "prompt blocked"),
        ({"kind": "no_image", "text": "I cannot help with that."}, "I cannot help with that."),
    ],
)
def test_reply_without_image_is_a_refusal_and_not_retried(image, action, reason_part):
    with FakeGemini(api_key=KEY, script=[action]) as fake:
        editor, sleeps = make_editor(fake)
        with pytest.raises(EditRefused) as info:
            editor.edit(image, PROMPT, seed=0, step=1)
        assert len(fake.requests) == 1
    assert reason_part in info.value.reason
    assert info.value.meta["attempts"] == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "kind, phrase",
    [("malformed", "malformed reply"), ("garbage_image", "a malformed reply, kept as a failed step with its raw bytes")],
)
def test_malformed_reply_is_a_clear_editor_error(image, kind, phrase):
    with FakeGemini(api_key=KEY, script=[kind]) as fake:
        editor, _ = make_editor(fake)
        with pytest.raises(UnusableReply) as info:
            editor.edit(image, PROMPT, seed=0, step=1)
        assert len(fake.requests) == 1
    assert phrase in str(info.value)
    assert not isinstance(info.value, EditRefused)
    # The paid answer is evidence the chain keeps: an image's raw bytes travel with the error.
    assert (info.value.data is not None) == (kind == "garbage_image")
    assert info.value.__suppress_context__  # no chained SDK traceback in front of the user


# ----- the key never leaks ----------------------------------------------------------------------------


def test_api_key_appears_nowhere(image, caplog):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    script = [
        "image",
        {"kind": "error", "status": 429},
        "image",
        {"kind": "error", "status": 403, "message": f"API key {KEY} is not allowed"},  # a server echoing the key
        {"kind": "error", "status": 503, "repeat": 2},
        "safety",
        "no_image",
        "malformed",
        "garbage_image",
    ]
    with FakeGemini(api_key=KEY, script=script) as fake:
        editor, _ = make_editor(fake, max_retries=1)
        seen += [repr(editor), str(editor), json.dumps(dict(editor.params())), editor.id, editor.version]
        for step in range(1, 9):
            try:
                result = editor.edit(image, PROMPT, seed=0, step=step)
                seen += [json.dumps(dict(result.meta)), result.reasoning or "", repr(result)]
            except EditorError as e:
                seen += [str(e), repr(e), json.dumps(getattr(e, "meta", {}))]
        text_client = GeminiTextClient(base_url=fake.base_url, sleep=Sleeps())
        seen.append(repr(text_client))
    seen.append(caplog.text)
    assert any("403" in s for s in seen) and any("SAFETY" in s for s in seen)  # the scenarios did run
    leaks = [s for s in seen if KEY in s]
    assert leaks == []


def test_wrong_key_is_reported_without_showing_either_key(image, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaWRONG-canary-0000")
    with FakeGemini(api_key=KEY) as fake:
        editor, sleeps = make_editor(fake)
        with pytest.raises(EditorError) as info:
            editor.edit(image, PROMPT, seed=0, step=1)
    message = str(info.value)
    assert "GEMINI_API_KEY" in message
    assert "AIzaWRONG" not in message and KEY not in message
    assert sleeps == []


def test_missing_key_is_a_config_error_naming_the_variable(image, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY")
    with FakeGemini(api_key=KEY) as fake:
        editor, _ = make_editor(fake)  # creating the editor needs no key (offline cache audits)
        with pytest.raises(ConfigError, match="GEMINI_API_KEY"):
            editor.edit(image, PROMPT, seed=0, step=1)
        assert fake.requests == []


def test_key_precedence_follows_google_genai():
    assert api_key_from_env({"GEMINI_API_KEY": "a", "GOOGLE_API_KEY": "b"}) == "b"
    assert api_key_from_env({"GEMINI_API_KEY": "a"}) == "a"
    with pytest.raises(ConfigError, match="GEMINI_API_KEY"):
        api_key_from_env({"GEMINI_API_KEY": "  "})


# ----- sizes and seeds ----------------------------------------------------------------------------------


def test_interleaved_sizes_cycle_1k_2k_4k_by_step(image):
    with FakeGemini(api_key=KEY) as fake:
        editor, _ = make_editor(fake, image_size="interleaved")
        current = image
        for step in range(1, 5):
            current = editor.edit(current, PROMPT, seed=0, step=step).image
        sizes = [r.generation_config["imageConfig"]["imageSize"] for r in fake.requests]
    assert sizes == ["1K", "2K", "4K", "1K"]
    assert [size_for_step("interleaved", s) for s in range(1, 7)] == ["1K", "2K", "4K"] * 2
    assert size_for_step("2K", 5) == "2K" and size_for_step("auto", 1) is None


def test_auto_size_sends_no_image_config(image):
    with FakeGemini(api_key=KEY) as fake:
        make_editor(fake, model="gemini-2.5-flash-image", image_size="auto", thoughts=False)[0].edit(
            image, PROMPT, seed=0, step=1
        )
        assert "imageConfig" not in fake.requests[0].generation_config
        assert fake.requests[0].model == "gemini-2.5-flash-image"


@pytest.mark.parametrize("mode", ["fixed", "per-step"])
def test_seed_modes(image, mode):
    with FakeGemini(api_key=KEY) as fake:
        editor, _ = make_editor(fake, seed_mode=mode, base_seed=100)
        for run in (0, 1):
            for step in (1, 2, 3):
                editor.edit(image, PROMPT, seed=run, step=step)
        seeds = [r.generation_config["seed"] for r in fake.requests]
    run0, run1 = seeds[:3], seeds[3:]
    if mode == "fixed":
        assert run0 == [100] * 3 and run1 == [101] * 3
    else:
        assert len(set(seeds)) == 6
        assert run0 == [100 + 1, 100 + 2, 100 + 3]


@settings(max_examples=40, deadline=None)
@given(
    base=st.integers(0, 2**40),
    seed=st.integers(0, 10_000),
    steps=st.lists(st.integers(0, 9_999), min_size=2, max_size=5, unique=True),
    mode=st.sampled_from(["fixed", "per-step"]),
)
def test_derived_seeds_fit_int32_and_per_step_never_repeats_within_a_run(base, seed, steps, mode):
    values = [derive_seed(base, seed, s, mode) for s in steps]
    assert all(0 <= v < 2**31 for v in values)
    if mode == "per-step":
        assert len(set(values)) == len(values)
    else:
        assert len(set(values)) == 1


# ----- chat sessions -------------------------------------------------------------------------------------


def test_chat_session_sends_history_and_refuses_to_resume_without_it(image):
    with FakeGemini(api_key=KEY) as fake:
        editor, _ = make_editor(fake, session="chat")
        first = editor.edit(image, PROMPT, seed=0, step=1)
        editor.edit(first.image, PROMPT, seed=0, step=2)
        one, two = fake.requests
        assert len(one.body["contents"]) == 1
        roles = [c.get("role") for c in two.body["contents"]]
        assert roles == ["user", "model", "user"]
        # The model already holds its own output as its last turn: step 2 sends words only.
        assert two.body["contents"][-1]["parts"] == [{"text": PROMPT}]
        assert "thought_signature" in first.meta

        # A new process resuming at step 3 has no history: refuse before paying.
        resumed, _ = make_editor(fake, session="chat")
        with pytest.raises(ConfigError, match="restore_history"):
            resumed.edit(first.image, PROMPT, seed=0, step=3)
        assert len(fake.requests) == 2

        resumed.restore_history([ChatTurn(PROMPT, image, first.image, first.meta["thought_signature"])], last_step=1)
        resumed.edit(first.image, PROMPT, seed=0, step=2)
        three = fake.requests[2]
    assert [c.get("role") for c in three.body["contents"]] == roles
    model_part = three.body["contents"][1]["parts"][0]
    assert model_part.get("thoughtSignature", model_part.get("thought_signature"))


# ----- text questions --------------------------------------------------------------------------------------


def test_ask_about_image_returns_the_answer_text_and_sends_the_image(image):
    with FakeGemini(api_key=KEY, script=[{"kind": "text", "text": "7 apples", "thought": "counting"}]) as fake:
        answer = ask_about_image(image, "How many apples?", model="gemini-2.5-flash", base_url=fake.base_url, sleep=Sleeps())
        (req,) = fake.requests
        assert answer == "7 apples"  # the thought part is not part of the answer
        assert req.images == [image.data()] and req.texts == ["How many apples?"]
        assert req.generation_config["temperature"] == 0.0
        # A text-only answer for ask_about_image is success; an answer with no text is not.
        fake.push({"kind": "safety"})
        with pytest.raises(EditRefused):
            ask_about_image(None, "q", base_url=fake.base_url, sleep=Sleeps())


def test_ask_about_image_retries_like_the_editor():
    with FakeGemini(api_key=KEY, script=[{"kind": "error", "status": 429}, {"kind": "text", "text": "NO"}]) as fake:
        sleeps = Sleeps()
        assert ask_about_image(None, "q", base_url=fake.base_url, sleep=sleeps) == "NO"
        assert len(fake.requests) == 2 and sleeps == [1.0]


# ----- cost, registry, params -------------------------------------------------------------------------------


def test_estimate_cost_uses_the_price_table():
    pro = PRICE_PER_IMAGE_USD["gemini-3-pro-image-preview"]
    assert estimate_cost("gemini-3-pro-image-preview", "2K", 10) == pytest.approx(10 * pro["2K"])
    assert estimate_cost("gemini-3-pro-image-preview", "interleaved", 3) == pytest.approx(pro["1K"] + pro["2K"] + pro["4K"])
    assert estimate_cost("gemini-2.5-flash-image", "auto", 100) == pytest.approx(3.9)
    assert estimate_cost("gemini-9-unknown", "4K", 1) == pytest.approx(max(p["4K"] for p in PRICE_PER_IMAGE_USD.values()))
    assert estimate_cost("gemini-3-pro-image-preview", "2K", 0) == 0
    with pytest.raises(ConfigError):
        estimate_cost("gemini-3-pro-image-preview", "8K", 1)


def test_registry_names_and_stable_identity():
    from iqa_audit.editors import create_editor

    pro = create_editor("nano-banana-pro")
    flash = create_editor("nano-banana")
    custom = create_editor("gemini:model=gemini-3-pro-image-preview,temperature=0,image_size=interleaved,seed_mode=per-step")
    assert pro.id == "gemini-3-pro-image-preview" and pro.paid is True
    assert flash.id == "gemini-2.5-flash-image" and flash.params()["thoughts"] is False
    assert custom.params()["temperature"] == 0.0 and custom.params()["image_size"] == "interleaved"
    # Same settings, same identity: these enter every chain key.
    again = create_editor("nano-banana-pro")
    assert (again.id, again.version, dict(again.params())) == (pro.id, pro.version, dict(pro.params()))
    assert create_editor("gemini").params() == pro.params()


@pytest.mark.parametrize(
    "kw",
    [
        {"image_size": "3K"},
        {"seed_mode": "random"},
        {"session": "thread"},
        {"temperature": 3},
        {"temperature": "hot"},
        {"max_retries": -1},
        {"model": ""},
        {"thoughts": "yes"},
    ],
)
def test_bad_parameters_are_config_errors(kw):
    with pytest.raises(ConfigError):
        GeminiEditor(**kw)


def test_base_url_is_recorded_without_credentials_and_kept_out_of_the_chain_key(image):
    editor = GeminiEditor(base_url="http://user:secret@127.0.0.1:9/proxy/?token=abc")
    assert "base_url" not in editor.params()  # a fake server's port must not re-key chains
    assert editor.params() == GeminiEditor().params()
    assert "127.0.0.1:9/proxy" in repr(editor)
    assert "secret" not in repr(editor) and "abc" not in repr(editor)
    with FakeGemini(api_key=KEY) as fake:
        result = make_editor(fake)[0].edit(image, PROMPT, seed=0, step=1)
        assert result.meta["endpoint"] == fake.base_url


def test_editor_satisfies_the_protocol():
    from iqa_audit.editors.base import Editor

    assert isinstance(GeminiEditor(), Editor)


# ----- the fake server as a separate process (for the chain builder's kill-and-resume test) ----------------


def test_fake_server_cli_serves_and_logs_every_request(tmp_path, image):
    port_file, log = tmp_path / "port", tmp_path / "log.jsonl"
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"kind": "error", "status": 429}]))
    env = {**os.environ, "FAKE_GEMINI_API_KEY": KEY}
    proc = subprocess.Popen(
        [sys.executable, str(FAKE_SERVER), "--port-file", str(port_file), "--log", str(log), "--script", str(script)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while not port_file.exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "fake server did not start"
            time.sleep(0.05)
        sleeps = Sleeps()
        editor = GeminiEditor(base_url=f"http://127.0.0.1:{port_file.read_text()}", sleep=sleeps, timeout_s=20)
        editor.edit(image, PROMPT, seed=3, step=1)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stderr.close()
    entries = read_log(log)
    assert [e["served"] for e in entries] == ["error:429", "image"]
    assert all(e["key_ok"] and e["texts"] == [PROMPT] and e["seed"] == 3 for e in entries)
    import hashlib

    assert entries[0]["image_sha256"] == [hashlib.sha256(image.data()).hexdigest()]
    assert KEY not in log.read_text()

"""Paid Gemini chains end to end: the real CLI, the real chain builder, the real google-genai
client, and a fake Gemini server running in its own process (127.0.0.1 only).

What these tests pin down, because each one costs money when it breaks:

- a build killed mid-chain and re-run never re-requests a step that was already stored
  (only the request in flight at the kill, which was never stored, is sent again);
- the API key never lands in the store (images, SQLite manifest) or in the CLI's output,
  even when the server echoes it back in thoughts, text, refusals and error messages;
- --max-paid-steps caps the number of requests, and the cost estimate is printed first;
- a safety refusal ends the chain, is stored with its reason, and is not re-requested.

Each CLI run is a subprocess with a timeout; each fake server is terminated in a finally.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from iqa_audit.chains.chain import ChainSpec, resolve
from iqa_audit.store.store import StepRecord, Store
from tests.tiny_audit import ONE_RUN_OF_SIX_STEPS

try:  # tests/ may or may not be a package, depending on how pytest was configured
    from tests.fake_gemini import noisy_copy, read_log
except ImportError:  # pragma: no cover - depends on the import mode
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fake_gemini import noisy_copy, read_log

pytestmark = [pytest.mark.network, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / "generate_fixtures.py"
FAKE_SERVER = Path(__file__).resolve().parents[1] / "fake_gemini.py"

# Distinctive, so a leak anywhere is found by a plain substring search of raw bytes.
KEY = "AIzaFAKE-chain-canary-4b1d9e7c3a02f5"
SEED = "smooth-gradient"
LONG_SIDE = 128
# `generate_fixtures.py build` validates the profile's delta steps (5, 10, 20) against
# --steps and has no --delta-steps option, so it cannot build fewer than 20 steps.
STEPS = 20
CLI_TIMEOUT_S = 60
SERVER_START_TIMEOUT_S = 20


# ----- helpers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass(frozen=True)
class FakeServer:
    base_url: str
    log: Path

    @property
    def editor_spec(self) -> str:
        return f"gemini:base_url={self.base_url}"


@contextmanager
def fake_server(folder: Path, script: Sequence[dict] = (), name: str = "server") -> Iterator[FakeServer]:
    """`tests/fake_gemini.py` in its own process, on a free 127.0.0.1 port, until the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    port_file, log, script_file = folder / f"{name}.port", folder / f"{name}.jsonl", folder / f"{name}-script.json"
    script_file.write_text(json.dumps(list(script)))
    with open(folder / f"{name}.stderr", "wb") as errors:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(FAKE_SERVER),
                "--port-file",
                str(port_file),
                "--log",
                str(log),
                "--script",
                str(script_file),
                "--api-key",
                KEY,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            env=_server_env(),
            cwd=str(folder),
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not port_file.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"fake Gemini server exited with {proc.returncode}: {(folder / f'{name}.stderr').read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"fake Gemini server did not write {port_file} within {SERVER_START_TIMEOUT_S} s")
            time.sleep(0.02)
        yield FakeServer(f"http://127.0.0.1:{int(port_file.read_text())}", log)
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FAKE_GEMINI_API_KEY",)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _cli_env() -> dict[str, str]:
    """The parent's environment with only our fake key: no real key can reach the fake server."""
    drop = (
        "GOOGLE_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_GEMINI_BASE_URL",
        "GOOGLE_GENAI_USE_VERTEXAI",
        "GOOGLE_GENAI_API_VERSION",
        "IQA_AUDIT_STORE",
        "IQA_AUDIT_PROFILE",
    )
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(GEMINI_API_KEY=KEY, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def build_args(
    server: FakeServer, store: Path, *, steps: int = STEPS, runs: int = 1, max_paid_steps: int | None = 100
) -> list[str]:
    args = [
        sys.executable,
        str(CLI),
        "build",
        "--editor",
        server.editor_spec,
        "--seed",
        SEED,
        "--task",
        "replicate",
        "--runs",
        str(runs),
        "--steps",
        str(steps),
        "--long-side",
        str(LONG_SIDE),
        "--store",
        str(store),
        "--quiet",
    ]
    if max_paid_steps is not None:
        args += ["--max-paid-steps", str(max_paid_steps)]
    return args


def run_cli(args: list[str]) -> CliRun:
    t0 = time.perf_counter()
    done = subprocess.run(
        args,
        check=False,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        env=_cli_env(),
        cwd=str(REPO),
        stdin=subprocess.DEVNULL,
    )
    return CliRun(done.returncode, done.stdout, done.stderr, time.perf_counter() - t0)


def chain_key(server: FakeServer, *, run: int = 0, steps: int = STEPS) -> str:
    """The key the CLI's chain gets (resolve() needs no API key: nothing is requested)."""
    spec = ChainSpec(seed=SEED, editor=server.editor_spec, task="replicate", run=run, steps=steps, long_side=LONG_SIDE)
    return resolve(spec).key


def stored_steps(store_root: Path, key: str) -> list[StepRecord]:
    store = Store(store_root)
    try:
        return store.steps(key)
    finally:
        store.close()


def requested_steps(log: Sequence[dict], steps: Sequence[StepRecord]) -> list[int]:
    """The chain step each logged request was made for: one more than the step whose stored
    image it sent (the editor sends the exact stored bytes of step k-1 to make step k)."""
    step_of_hash = {s.image_hash: s.step for s in steps if s.ok}
    out = []
    for entry in log:
        assert len(entry["image_sha256"]) == 1, f"a fresh-session request sends one image: {entry}"
        sent = entry["image_sha256"][0]
        assert sent in step_of_hash, f"a request sent an image that is not a stored step: {entry}"
        out.append(step_of_hash[sent] + 1)
    return out


def whole_requests(log: Sequence[dict], *, cut_off_last: bool) -> list[dict]:
    """The log without a request whose body never fully arrived (n_contents 0).

    A client SIGKILLed while sending leaves the fake server a truncated body, which it still
    logs (with no contents); the model could not have acted on it. Only the last request of
    the killed run may be one; anywhere else it is a real problem.
    """
    cut = [i for i, e in enumerate(log) if not e["n_contents"]]
    allowed = [len(log) - 1] if cut_off_last and log else []
    assert all(i in allowed for i in cut), f"requests without a body at {cut}: {[log[i] for i in cut]}"
    return [e for e in log if e["n_contents"]]


def secret_needles(secret: str) -> list[bytes]:
    """The secret as raw bytes and as it would appear inside any base64 text (standard or
    URL-safe), whatever its byte offset in the encoded data: one core per alignment."""
    raw = secret.encode()
    needles = [raw]
    for pad in range(3):
        encoded = base64.b64encode(bytes(pad) + raw)
        # Drop the 4 characters mixing in the padding bytes and the last 4 (end alignment).
        core = encoded[4 if pad else 0 : len(encoded) - 4]
        needles += [core, core.replace(b"+", b"-").replace(b"/", b"_")]
    return needles


def assert_key_absent(roots: Sequence[Path], runs: Sequence[CliRun]) -> int:
    """No file under `roots` (read as bytes) and no CLI output holds the key; returns files checked."""
    needles = secret_needles(KEY)
    checked = 0
    for root in roots:
        for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
            data = path.read_bytes()
            checked += 1
            leaked = [n for n in needles if n in data]  # a bool, not the bytes: no huge assert diff
            assert not leaked, f"the API key (as {leaked[0][:12]!r}...) is in {path}"
    for i, run in enumerate(runs):
        leaked = [n for n in needles if n.decode() in run.output]
        assert not leaked, f"the API key is in the output of CLI run {i}:\n{run.output}"
    return checked


def image_reply(**extra) -> dict:
    return {"kind": "image", **extra}


# ----- 1. kill mid-chain, resume, no stored step requested again ---------------------------


def test_killed_build_resumes_without_requesting_a_stored_step_again(tmp_path):
    store_root = tmp_path / "store"
    # Replies wait 0.3 s, then 1.5 s from step 4 on: the kill (once step 3 is stored) lands
    # while a request is open, with room to spare on a loaded machine. The test never waits
    # for the long replies: the client is killed and this server stopped.
    slow = [image_reply(delay_s=0.3, repeat=3), image_reply(delay_s=1.5, repeat=STEPS)]
    with fake_server(tmp_path, slow, name="first") as first:
        key = chain_key(first)
        proc = subprocess.Popen(
            build_args(first, store_root),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_cli_env(),
            cwd=str(REPO),
        )
        try:
            deadline = time.monotonic() + CLI_TIMEOUT_S
            stored: list[StepRecord] = []
            while time.monotonic() < deadline and proc.poll() is None:
                if (store_root / "manifest.sqlite").exists():
                    stored = stored_steps(store_root, key)
                    if stored and stored[-1].step >= 3:
                        break
                time.sleep(0.03)
            # Kill while the next request is open at the server (it answers only after 1.5 s):
            # the step paid for but never stored, which the resumed run must ask for again.
            wait_until = time.monotonic() + 1.0
            while stored and len(read_log(first.log)) <= stored[-1].step and time.monotonic() < wait_until:
                time.sleep(0.02)
            assert proc.poll() is None, f"the build ended before it could be killed:\n{proc.communicate()}"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
            first_out, first_err = proc.communicate(timeout=10)
        # Let the server finish logging a request that reached it just before the kill.
        time.sleep(0.4)
    first_log_raw = read_log(first.log)
    first_log = whole_requests(first_log_raw, cut_off_last=True)

    before = stored_steps(store_root, key)
    last_before = before[-1].step
    assert all(s.ok for s in before)
    assert [s.step for s in before] == list(range(last_before + 1)), "the manifest holds a gap"
    assert 3 <= last_before < STEPS, f"killed mid-chain, not at step {last_before}"
    assert proc.returncode == -signal.SIGKILL
    # Paid requests so far: one per stored step, plus at most the one in flight at the kill.
    assert len(first_log) - last_before in (0, 1), (len(first_log), last_before)
    if len(first_log_raw) > len(first_log):  # the kill cut the next request short
        assert len(first_log) == last_before

    # Resume against a server on a *new* port: base_url is not part of the chain key.
    with fake_server(tmp_path, name="second") as second:
        assert second.base_url != first.base_url
        assert chain_key(second) == key
        resumed = run_cli(build_args(second, store_root))
    assert resumed.returncode == 0, resumed.output
    assert f"{STEPS - last_before} new requests" in resumed.stdout, resumed.stdout
    second_log = whole_requests(read_log(second.log), cut_off_last=False)

    final = stored_steps(store_root, key)
    assert [s.step for s in final] == list(range(STEPS + 1)) and all(s.ok for s in final)
    assert final[: last_before + 1] == before, "stored steps changed on resume"
    store = Store(store_root)
    try:
        assert [c.key for c in store.chains()] == [key], "the resumed build started a second chain"
        # Step k is the fake's answer to the exact stored bytes of step k-1, across the kill.
        images = [store.read_bytes(s.image_hash, s.ext) for s in final]
    finally:
        store.close()
    for k in range(1, STEPS + 1):
        assert images[k] == noisy_copy(images[k - 1]), f"step {k} is not the edit of stored step {k - 1}"

    first_steps = requested_steps(first_log, final)
    second_steps = requested_steps(second_log, final)
    assert first_steps == list(range(1, len(first_log) + 1))
    # The resumed run asks only for steps that were never stored, each once, in order.
    assert second_steps == list(range(last_before + 1, STEPS + 1))
    assert all(e["key_ok"] for e in first_log + second_log)
    # Only the in-flight step may have been requested twice; no stored step ever was.
    twice = sorted({s for s in first_steps if s in second_steps})
    assert twice in ([], [last_before + 1]), twice
    assert len(first_log) + len(second_log) == STEPS + len(twice)

    killed = CliRun(proc.returncode, first_out.decode(errors="replace"), first_err.decode(errors="replace"), 0.0)
    assert assert_key_absent([store_root], [killed, resumed]) > 0


# ----- 2. the API key never lands in the store or in the output ---------------------------


def test_api_key_never_reaches_store_or_output_even_when_the_server_echoes_it(tmp_path):
    store_root = tmp_path / "store"
    echo = f"I see your key {KEY} and repeat it: {KEY}"
    script = [
        # run 0: the key comes back in thoughts and text, then in a refusal's text
        image_reply(thought=f"**Thinking** about {KEY}", text=echo),
        image_reply(),
        {"kind": "no_image", "text": echo},
        # run 1: the key comes back in a (non-retryable) error message
        {"kind": "error", "status": 400, "message": f"API key {KEY} lacks access to this model"},
    ]
    with fake_server(tmp_path, script) as server:
        first = run_cli(build_args(server, store_root, runs=2))
        again = run_cli(build_args(server, store_root, runs=2, max_paid_steps=0))
    log = read_log(server.log)
    # First the point of the test: the key is nowhere, whatever else went wrong.
    checked = assert_key_absent([store_root], [first, again])
    assert checked >= 4  # manifest + at least the seed and two step images
    assert [e["served"] for e in log] == ["image", "image", "no_image", "error:400"], log
    assert first.returncode == 1, first.output  # run 1 failed on the error
    assert "stopped:" in first.stdout and "FAILED:" in first.stderr, first.output
    assert "[redacted]" in first.output, "the echoed key should show as [redacted] in the refusal/error"

    # The echoed text was stored (scrubbed), so the scrub is what keeps the key out.
    steps = stored_steps(store_root, chain_key(server, run=0))
    assert "[redacted]" in (steps[1].reasoning or "") and "[redacted]" in steps[1].meta.get("text", "")
    assert steps[3].status == "refused" and "[redacted]" in steps[3].meta["reason"]


# ----- 3. --max-paid-steps caps the requests; the estimate comes first ---------------------


def test_paid_budget_caps_requests_and_the_estimate_is_printed_before_building(tmp_path):
    store_root = tmp_path / "store"
    with fake_server(tmp_path) as server:
        key = chain_key(server)
        # No budget given: paid editors need an explicit one, so nothing is requested.
        unbudgeted = run_cli(build_args(server, store_root, max_paid_steps=None))
        assert read_log(server.log) == []
        assert unbudgeted.returncode != 0 and "--max-paid-steps" in unbudgeted.stderr, unbudgeted.output

        capped = run_cli(build_args(server, store_root, max_paid_steps=3))
        assert len(read_log(server.log)) == 3
        capped_again = run_cli(build_args(server, store_root, max_paid_steps=3))
        log = read_log(server.log)

    assert capped.returncode != 0, capped.output
    assert "--max-paid-steps" in capped.stderr and "FAILED:" in capped.stderr, capped.output
    out = capped.stdout
    assert f"{STEPS} new requests, estimated $" in out
    assert "estimated total $" in out and "building " in out
    assert out.index("estimated total $") < out.index("building "), out
    # A second capped run continues from the stored steps: 3 more, none repeated.
    assert f"{STEPS - 3} new requests" in capped_again.stdout, capped_again.stdout
    assert len(log) == 6
    steps = stored_steps(store_root, key)
    assert [s.step for s in steps] == list(range(7)) and all(s.ok for s in steps)
    assert requested_steps(log, steps) == [1, 2, 3, 4, 5, 6]
    assert_key_absent([store_root], [unbudgeted, capped, capped_again])


# ----- 4. a safety refusal ends the chain and is never re-requested -----------------------


def test_safety_block_stops_the_chain_is_stored_and_not_requested_again(tmp_path):
    store_root = tmp_path / "store"
    with fake_server(tmp_path, [image_reply(), image_reply(), {"kind": "safety"}]) as server:
        key = chain_key(server)
        first = run_cli(build_args(server, store_root))
        assert len(read_log(server.log)) == 3
        again = run_cli(build_args(server, store_root))
        log = read_log(server.log)

    assert first.returncode == 0, first.output
    stop_lines = [line for line in first.stdout.splitlines() if line.startswith("stopped: ")]
    assert len(stop_lines) == 1 and "SAFETY" in stop_lines[0] and "at step 3" in stop_lines[0], first.stdout
    steps = stored_steps(store_root, key)
    assert [(s.step, s.status) for s in steps] == [(0, "ok"), (1, "ok"), (2, "ok"), (3, "refused")]
    refused = steps[3]
    assert "SAFETY" in refused.meta["reason"] and refused.meta.get("finish_reason") == "SAFETY"
    assert refused.image_hash is None and refused.prompt

    # The re-run finds the chain finished (stopped) and asks the server for nothing.
    assert again.returncode == 0, again.output
    assert "nothing to build" in again.stdout, again.stdout
    assert len(log) == 3
    assert requested_steps(log, steps) == [1, 2, 3]
    assert_key_absent([store_root], [first, again])


# ----- 5. an audit and its report over a paid chain: still no key, no new request ---------


def test_audit_report_of_a_paid_chain_holds_no_key_and_requests_nothing(tmp_path):
    store_root, reports = tmp_path / "store", tmp_path / "reports"
    script = [image_reply(thought=f"The input looks noisy; key {KEY}", text=f"echo {KEY}") for _ in range(6)]
    with fake_server(tmp_path, script) as server:
        built = run_cli(build_args(server, store_root, steps=6))
        assert built.returncode == 0, built.output
        requests_after_build = len(read_log(server.log))
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                str(REPO / "tests_metrics" / "test_gap.py"),
                "-p",
                "no:cacheprovider",
                "-q",
                "-n",
                "0",
                "--editor",
                server.editor_spec,
                "--seed",
                SEED,
                *ONE_RUN_OF_SIX_STEPS,
                "--long-side",
                str(LONG_SIDE),
                "--metric",
                "iqa_audit:noise-sigma",
                "--store",
                str(store_root),
                "--reports-dir",
                str(reports),
                "--run-name",
                "paid",
                "--baseline",
                "none",
            ],
            capture_output=True,
            text=True,
            timeout=180,
            env=_cli_env(),
            cwd=str(REPO),
            stdin=subprocess.DEVNULL,
        )
        audit = CliRun(done.returncode, done.stdout, done.stderr, 0.0)
        assert len(read_log(server.log)) == requests_after_build, "the audit must only read the stored paid chain"
    assert (reports / "paid" / "index.html").is_file() and (reports / "paid" / "results.json").is_file(), audit.output
    assert "gap:noise-sigma-gemini-replicate-smooth-gradient-d6" in (reports / "paid" / "results.json").read_text()
    assert assert_key_absent([store_root, reports], [built, audit]) >= 8


def test_a_test_run_never_requests_paid_steps_without_a_budget(tmp_path):
    with fake_server(tmp_path, [image_reply()]) as server:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                str(REPO / "tests_metrics" / "test_gap.py"),
                "-p",
                "no:cacheprovider",
                "-q",
                "-n",
                "0",
                "--editor",
                server.editor_spec,
                "--seed",
                SEED,
                *ONE_RUN_OF_SIX_STEPS,
                "--long-side",
                str(LONG_SIDE),
                "--metric",
                "iqa_audit:noise-sigma",
                "--store",
                str(tmp_path / "store"),
                "--reports-dir",
                str(tmp_path / "reports"),
                "--baseline",
                "none",
            ],
            capture_output=True,
            text=True,
            timeout=180,
            env=_cli_env(),
            cwd=str(REPO),
            stdin=subprocess.DEVNULL,
        )
        assert read_log(server.log) == []
    assert done.returncode == 1 and "--max-paid-steps" in done.stdout

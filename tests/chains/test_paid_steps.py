"""Never pay twice, never pay unasked: every path that builds a chain against a paid editor,
driven through the real CLI and pytest against the fake Gemini server in its own process.

- `score` builds the chains it scores under the same budget as `build` (default 0), with
  the cost estimate printed first; pytest's budget is one for the whole run, whatever -n.
- A request sent and never answered is 'outcome unknown': stored, the chain stopped, never
  sent again unless the user passes --resend-unknown.
- A paid reply whose image does not decode is stored as a failed step with its raw bytes
  and is never bought again.
- A chat-session chain stopped by its budget resumes, and the resumed requests are exactly
  those of an uninterrupted session (its history rebuilt from the store).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from iqa_audit.store.store import Store
from tests.chains.test_gemini_chains import (
    CLI,
    LONG_SIDE,
    REPO,
    SEED,
    STEPS,
    _cli_env,
    assert_key_absent,
    build_args,
    chain_key,
    fake_server,
    image_reply,
    requested_steps,
    run_cli,
    stored_steps,
)
from tests.fake_gemini import read_log
from tests.tiny_audit import ONE_RUN_OF_SIX_STEPS

pytestmark = [pytest.mark.network, pytest.mark.slow]


def score_args(server, store, *, max_paid_steps=None, editor=None):
    args = [
        sys.executable,
        str(CLI),
        "score",
        "--editor",
        editor or server.editor_spec,
        "--seed",
        SEED,
        "--task",
        "replicate",
        "--runs",
        "1",
        "--steps",
        str(STEPS),
        "--long-side",
        str(LONG_SIDE),
        "--store",
        str(store),
        "--metric",
        "iqa_audit:noise-sigma",
    ]
    return args + (["--max-paid-steps", str(max_paid_steps)] if max_paid_steps is not None else [])


# ----- 1. one budget on every path ------------------------------------------------------------


def test_score_builds_paid_chains_only_within_its_budget_and_prints_the_estimate_first(tmp_path):
    store_root = tmp_path / "store"
    with fake_server(tmp_path) as server:
        unbudgeted = run_cli(score_args(server, store_root))
        assert read_log(server.log) == [], "score sent paid requests without --max-paid-steps"
        capped = run_cli(score_args(server, store_root, max_paid_steps=3))
        log = read_log(server.log)
    assert unbudgeted.returncode == 2 and "--max-paid-steps" in unbudgeted.stderr, unbudgeted.output
    assert "Traceback" not in unbudgeted.output
    out = unbudgeted.stdout
    assert f"{STEPS} new requests, estimated $" in out and "no paid request will be sent" in out, out
    assert len(log) == 3 and capped.returncode == 2, capped.output
    assert capped.stdout.index("estimated total $") >= 0
    steps = stored_steps(store_root, chain_key(server))
    assert [s.step for s in steps] == [0, 1, 2, 3] and requested_steps(log, steps) == [1, 2, 3]


def test_a_parallel_test_run_shares_one_budget_across_its_workers(tmp_path):
    # Two seeds' series land on the two xdist workers; each would build 6 paid steps. The
    # run's --max-paid-steps 4 is one allowance for both (it used to be 4 per worker).
    seeds = ["--seed", SEED, "--seed", "grid-perspective"]
    with fake_server(tmp_path) as server:
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
                "2",
                "--editor",
                server.editor_spec,
                *seeds,
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
                "--max-paid-steps",
                "4",
            ],
            capture_output=True,
            text=True,
            timeout=240,
            env=_cli_env(),
            cwd=str(REPO),
            stdin=subprocess.DEVNULL,
        )
        log = read_log(server.log)
    assert len(log) == 4, (len(log), done.stdout[-3000:])
    # The estimate came before any test ran: 12 steps needed, the cap named.
    assert "12 new requests, estimated $" in done.stdout and "--max-paid-steps=4 caps this run" in done.stdout
    assert "--max-paid-steps" in done.stdout and done.returncode == 1


# ----- 2. outcome unknown: stored, stopped, never resent unasked ----------------------------


def test_a_request_that_times_out_after_sending_is_never_resent_unless_allowed(tmp_path):
    store_root = tmp_path / "store"
    # Step 3's reply comes after 6 s; the editor gives up after 1 s. It used to resend the
    # same request up to max_retries=5 times (six bills); now it is one request, stopped.
    script = [image_reply(), image_reply(), image_reply(delay_s=6)]
    with fake_server(tmp_path, script) as server:
        spec = f"{server.editor_spec},timeout_s=1,max_retries=5"  # one editor: the comma continues its parameters
        args = [a if a != server.editor_spec else spec for a in build_args(server, store_root)]
        first = run_cli(args)
        assert len(read_log(server.log)) == 3
        again = run_cli(args)
        assert len(read_log(server.log)) == 3, "an unknown-outcome step was sent again without --resend-unknown"
        allowed = run_cli(args + ["--resend-unknown"])
        log = read_log(server.log)
    key = chain_key(server)
    assert first.returncode == 1 and "outcome unknown" in first.stdout and "--resend-unknown" in first.stdout, first.output
    assert "at step 3" in first.stdout
    assert again.returncode == 1 and "nothing to build" in again.stdout and "outcome unknown" in again.stdout, again.output
    # Allowed: step 3 is sent once more (the 4th request), then the chain completes.
    assert allowed.returncode == 0, allowed.output
    steps = stored_steps(store_root, key)
    assert [s.status for s in steps] == ["ok"] * (STEPS + 1)
    assert requested_steps(log, steps) == [1, 2, 3, 3, *range(4, STEPS + 1)]
    assert_key_absent([store_root], [first, again, allowed])


def test_unknown_outcome_is_stored_with_its_reason(tmp_path):
    store_root = tmp_path / "store"
    with fake_server(tmp_path, [image_reply(delay_s=5)]) as server:
        spec = f"{server.editor_spec},timeout_s=1"
        run_cli([a if a != server.editor_spec else spec for a in build_args(server, store_root)])
        assert len(read_log(server.log)) == 1
    steps = stored_steps(store_root, chain_key(server))
    assert [(s.step, s.status) for s in steps] == [(0, "ok"), (1, "unknown")]
    assert "may have been billed" in steps[1].meta["reason"] and steps[1].image_hash is None


# ----- 2b. an unusable paid reply is kept, not bought again ---------------------------------


def test_an_undecodable_paid_reply_is_stored_as_a_failed_step_and_never_bought_again(tmp_path):
    store_root = tmp_path / "store"
    with fake_server(tmp_path, [image_reply(), {"kind": "garbage_image"}]) as server:
        runs = [run_cli(build_args(server, store_root)) for _ in range(3)]
        log = read_log(server.log)
    assert len(log) == 2, f"{len(log)} requests over 3 runs: the broken reply was bought again"
    steps = stored_steps(store_root, chain_key(server))
    assert [(s.step, s.status) for s in steps] == [(0, "ok"), (1, "ok"), (2, "failed")]
    failed = steps[2]
    assert "kept as a failed step" in failed.meta["reason"]
    digest, ext = failed.meta["reply_object"].split(".")
    store = Store(store_root)
    try:
        assert ext == "bin" and store.read_bytes(digest, ext) == b"\x89PNG\r\n\x1a\nnot really a png"
    finally:
        store.close()
    assert "stopped:" in runs[0].stdout and "at step 2" in runs[0].stdout, runs[0].output
    assert all("nothing to build" in r.stdout for r in runs[1:])


# ----- 3. chat sessions resume from the store -----------------------------------------------


def test_a_chat_chain_stopped_by_its_budget_resumes_exactly_as_an_uninterrupted_one(tmp_path):
    with fake_server(tmp_path, name="whole") as whole:
        spec = f"{whole.editor_spec},session=chat"
        args = [a if a != whole.editor_spec else spec for a in build_args(whole, tmp_path / "whole", max_paid_steps=50)]
        assert run_cli(args).returncode == 0
        uninterrupted = read_log(whole.log)
    with fake_server(tmp_path, name="parts") as parts:
        spec = f"{parts.editor_spec},session=chat"
        args = [a if a != parts.editor_spec else spec for a in build_args(parts, tmp_path / "parts", max_paid_steps=2)]
        stopped = run_cli(args)
        resumed = run_cli([*args[:-1], "50"])
        pieces = read_log(parts.log)
    assert stopped.returncode == 1 and "--max-paid-steps" in stopped.stderr, stopped.output
    assert resumed.returncode == 0, resumed.output  # it used to fail: "got an empty history"
    assert len(pieces) == len(uninterrupted) == STEPS
    fields = ("texts", "image_sha256", "n_contents", "seed")
    assert [[e[f] for f in fields] for e in pieces] == [[e[f] for f in fields] for e in uninterrupted]
    assert pieces[2]["n_contents"] == 5  # step 3 carries the two earlier turns, rebuilt from the store
    assert_key_absent([tmp_path / "parts"], [stopped, resumed])

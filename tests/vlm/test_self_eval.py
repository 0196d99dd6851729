"""Self-evaluation delay: keyword judge, first noticed step, mean ± sd, and the LLM judge via the fake server."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iqa_audit.core.errors import ConfigError, EditorError
from iqa_audit.vlm.self_eval import (
    LLM_JUDGE_PROMPT,
    DelaySummary,
    Judgement,
    LLMJudge,
    StoredJudge,
    Verdict,
    first_noticed,
    first_noticed_step,
    judge_steps,
    keyword_judge,
    parse_yes_no,
    summarise_delays,
)

try:
    from tests.fake_gemini import FakeGemini
except ImportError:  # pragma: no cover - depends on pytest's import mode
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fake_gemini import FakeGemini

KEY = "AIzaFAKE-self-eval-canary-55aa"

NOTICES = [
    "The image shows visible noise across the sky.",
    "I notice the input is quite noisy, especially in the shadows.",
    "There is a grainy texture over the whole picture.",
    "The edges look pixelated and there are JPEG artifacts around the text.",
    "Some compression artifacts are present near the windows.",
    "I can see distortion along the contours of the faces.",
    "There's speckled static noise in the dark regions.",
    "The colours show banding and a greenish tint.",
    "No people are present, and the image shows heavy noise.",  # the negation belongs to another clause
    "I'll replicate it without removing the existing noise.",  # a negated verb that presupposes noise
    "It looks as if noise was sprinkled over it.",
    "The picture is clearly degraded compared with a clean photo.",
    "The previous output introduced artefacts in the gradient.",
]

DOES_NOT = [
    "",
    "Replicating the scene: a red building with a regular grid of windows.",
    "There is no noise in the image.",
    "I will reproduce it exactly, without introducing any new compression artifacts.",
    "The output must be noise-free and artifact-free.",
    "I'll make sure there are no artifacts, no noise, and no distortion.",
    "I need to check for noise before finalising.",
    "Keep it clean, without noise, grain, or blur.",
    "The image lacks noise; the gradients are smooth.",
    "Noise isn't visible anywhere.",
    "A shelf of ancient artifacts in a museum hall.",  # objects, not damage
    "The wood grain of the table is rich and warm.",
    "Avoid adding any distortion to the faces.",
    "It is free of grain and pixelation.",
    "Don’t add noise.",  # typographic apostrophe
]


@pytest.mark.parametrize("text", NOTICES)
def test_keyword_judge_positives(text):
    verdict = keyword_judge(text)
    assert verdict.noticed, text
    assert verdict.evidence and verdict.evidence in " ".join(text.split())


@pytest.mark.parametrize("text", DOES_NOT)
def test_keyword_judge_negatives_including_negations(text):
    assert keyword_judge(text) == Verdict(False, None)


def test_keyword_judge_none_and_evidence_is_the_sentence():
    assert keyword_judge(None) == Verdict(False, None)
    text = "**Replicating**\n\nThe layout is unchanged. However, the sky now has visible static noise. I will keep it."
    verdict = keyword_judge(text)
    assert verdict == Verdict(True, "However, the sky now has visible static noise.")


def test_keyword_judge_keeps_scanning_after_a_negated_mention():
    text = "I must not add noise. Looking closer, the input is already grainy."
    assert keyword_judge(text) == Verdict(True, "Looking closer, the input is already grainy.")


CHAIN = [
    (0, None),  # the seed: no reasoning
    (1, "Replicating the grid of windows exactly, with no alterations."),
    (2, "I must avoid adding noise."),
    (3, None),  # a step without a thought summary
    (4, "The image has become grainy with visible noise in the shadows."),
    (5, "Still noisy."),
]


def test_first_noticed_step_is_the_first_positive_in_step_order():
    assert first_noticed_step(CHAIN) == 4
    assert first_noticed_step(list(reversed(CHAIN))) == 4  # order of the input does not matter
    found = first_noticed(CHAIN)
    assert found == Judgement(4, True, "The image has become grainy with visible noise in the shadows.")
    assert first_noticed_step(CHAIN[:4]) is None
    assert first_noticed_step([]) is None


def test_first_noticed_stops_asking_after_the_first_positive():
    asked = []

    def judge(text):
        asked.append(text)
        return keyword_judge(text)

    first_noticed_step(CHAIN, judge=judge)
    assert asked == [CHAIN[1][1], CHAIN[2][1], CHAIN[4][1]]  # None texts and later steps are never judged


def test_judge_steps_gives_every_step_and_rejects_duplicates():
    judged = judge_steps(CHAIN)
    assert [j.step for j in judged] == [0, 1, 2, 3, 4, 5]
    assert [j.noticed for j in judged] == [False, False, False, False, True, True]
    with pytest.raises(ConfigError):
        judge_steps([(1, "a"), (1, "b")])


def test_summarise_delays_mean_and_sample_sd_over_noticing_runs():
    summary = summarise_delays([20, 37, None, 25, 30])
    assert summary.runs == 5 and summary.noticed_runs == 4
    assert summary.mean == pytest.approx(28.0)
    assert summary.sd == pytest.approx(statistics.stdev([20, 37, 25, 30]))
    assert summary.steps == (20, 37, None, 25, 30)
    assert "4/5 runs" in summary.describe()


def test_summarise_delays_edge_cases():
    assert summarise_delays([None, None]) == DelaySummary(2, 0, None, None, (None, None))
    one = summarise_delays([12])
    assert one.mean == 12 and one.sd is None
    assert summarise_delays([]).runs == 0
    with pytest.raises(ConfigError):
        summarise_delays([3, -1])
    with pytest.raises(ConfigError):
        summarise_delays([2.5])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(0, 100)), max_size=12))
def test_summary_is_consistent_with_its_steps(steps):
    s = summarise_delays(steps)
    noticed = [x for x in steps if x is not None]
    assert s.runs == len(steps) and s.noticed_runs == len(noticed)
    if noticed:
        assert min(noticed) <= s.mean <= max(noticed)
    else:
        assert s.mean is None
    assert (s.sd is None) == (len(noticed) < 2)


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("YES: the input is noisy", Verdict(True, "the input is noisy")),
        ('Yes - "visible grain"', Verdict(True, "visible grain")),
        ("**YES**", Verdict(True, None)),
        ("NO", Verdict(False, None)),
        ("no.", Verdict(False, None)),
        ("Answer: No", Verdict(False, None)),
        ("The reasoning only says to avoid noise.\nNO", Verdict(False, None)),
    ],
)
def test_parse_yes_no(answer, expected):
    assert parse_yes_no(answer) == expected


@pytest.mark.parametrize("answer", ["", "Maybe", "It depends on the definition", "Nope"])
def test_parse_yes_no_rejects_unclear_answers(answer):
    with pytest.raises(EditorError, match="LLM judge answer"):
        parse_yes_no(answer)


@pytest.fixture
def gemini_key(monkeypatch):
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_GEMINI_BASE_URL", raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)


@pytest.mark.network
def test_llm_judge_through_the_fake_server(gemini_key):
    script = [
        {"kind": "error", "status": 429},
        {"kind": "text", "text": "NO"},
        {"kind": "text", "text": 'YES: "the sky has become grainy"'},
    ]
    sleeps: list[float] = []
    with FakeGemini(api_key=KEY, script=script) as fake:
        judge = LLMJudge(model="gemini-2.5-flash", base_url=fake.base_url, sleep=sleeps.append)
        step = first_noticed(CHAIN, judge=judge)
        requests = fake.requests
    assert step == Judgement(2, True, "the sky has become grainy")  # the LLM, not the keywords, decided
    assert sleeps == [1.0]
    assert len(requests) == 3  # step 1 twice (429, then NO), step 2 once; nothing after the first YES
    assert all(r.model == "gemini-2.5-flash" and r.images == [] for r in requests)
    (question,) = requests[1].texts
    assert question == LLM_JUDGE_PROMPT.format(reasoning=CHAIN[1][1])
    assert requests[1].generation_config["temperature"] == 0.0


@pytest.mark.network
def test_llm_judge_skips_empty_text_and_caches_repeats(gemini_key):
    with FakeGemini(api_key=KEY, default={"kind": "text", "text": "NO"}) as fake:
        judge = LLMJudge(base_url=fake.base_url, sleep=lambda s: None)
        assert judge(None) == Verdict(False, None) and judge("  ") == Verdict(False, None)
        assert judge("same text") == Verdict(False, None)
        assert judge("same text") == Verdict(False, None)
        assert len(fake.requests) == 1


@pytest.mark.network
def test_llm_judge_unclear_answer_is_an_error(gemini_key):
    with FakeGemini(api_key=KEY, script=[{"kind": "text", "text": "I am not sure."}]) as fake:
        judge = LLMJudge(base_url=fake.base_url, sleep=lambda s: None)
        with pytest.raises(EditorError, match="LLM judge answer"):
            judge("The image is a bit noisy.")


ROOT = Path(__file__).resolve().parents[2]
ASK_IN_ANOTHER_PROCESS = """
import json, sys
from iqa_audit.vlm.self_eval import LLMJudge, StoredJudge
from iqa_audit.store.store import Store
store, base_url, texts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
judge = StoredJudge(Store(store), LLMJudge(base_url=base_url, sleep=lambda s: None))
print(json.dumps([[v.noticed, v.evidence] for v in map(judge, texts)]))
"""


@pytest.mark.network
def test_llm_judge_answers_are_asked_once_across_cells_and_processes(gemini_key, tmp_path):
    from iqa_audit.store.store import Store

    quiet, noisy = "The composition is unchanged.", "Reproduce the picture as it is."
    script = [{"kind": "text", "text": "NO"}, {"kind": "text", "text": 'YES: "grainy sky"'}]
    with FakeGemini(api_key=KEY, script=script, default={"kind": "text", "text": "NO"}) as fake:
        first_cell = StoredJudge(Store(tmp_path / "store"), LLMJudge(base_url=fake.base_url, sleep=lambda s: None))
        assert first_cell(quiet) == Verdict(False, None) and first_cell(noisy) == Verdict(True, "grainy sky")
        assert len(fake.requests) == 2
        next_cell = StoredJudge(Store(tmp_path / "store"), LLMJudge(base_url=fake.base_url, sleep=lambda s: None))
        assert next_cell(noisy) == Verdict(True, "grainy sky") and next_cell(quiet) == Verdict(False, None)
        assert len(fake.requests) == 2  # a new judge (a new editor cell) asks nothing again
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                ASK_IN_ANOTHER_PROCESS,
                str(tmp_path / "store"),
                fake.base_url,
                json.dumps([noisy, quiet, "A third, new text."]),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert other.returncode == 0, other.stderr[-2000:]
        assert json.loads(other.stdout) == [[True, "grainy sky"], [False, None], [False, None]]
        assert len(fake.requests) == 3  # another process asked only the new text
        other_model = StoredJudge(
            Store(tmp_path / "store"), LLMJudge(model="gemini-2.5-pro", base_url=fake.base_url, sleep=lambda s: None)
        )
        other_model(quiet)
        assert len(fake.requests) == 4  # the answer is the model's: another model is asked again


@pytest.mark.network
def test_the_engines_llm_judge_is_the_stored_one(gemini_key, monkeypatch, tmp_path):
    from iqa_audit.audit.services import Services
    from iqa_audit.config.audit_config import resolve_config

    cfg = resolve_config({"judge": "llm:gemini-2.5-flash", "store": str(tmp_path / "store")})
    with FakeGemini(api_key=KEY, default={"kind": "text", "text": "NO"}) as fake:
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.base_url)
        for _ in range(3):  # one judge per editor cell, as editor_cells.EditorCells.record asks for them
            assert Services.open(cfg).editors.judge()("The input looks clean.") == Verdict(False, None)
        assert len(fake.requests) == 1

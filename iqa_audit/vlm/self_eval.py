"""Self-evaluation delay: at which step does the editor's own reasoning notice the damage?

The study read the thought summaries Gemini wrote at every step of a replication chain and
found the model first remarked on noise only at step 20-37, long after the artifacts were
visible (step 5-10). This module finds that first step per chain and summarises it over runs.

Two judges decide whether one reasoning text "notices" degradation:

- `keyword_judge`: free and deterministic. It looks for degradation words (noise, grainy,
  pixelated, compression artifacts, distortion, ...) and discards those under a negation in
  the same clause ("no noise", "without introducing artifacts", "free of grain", "noise-free",
  "I'll check for noise"). It is a heuristic: it misses paraphrases ("the surface looks
  speckly") and can be fooled by unusual phrasing. Its evidence phrase makes every positive
  easy to check by eye.
- `LLMJudge`: asks a Gemini text model the same question (paid, through
  `iqa_audit.vlm.client.ask_about_image`), and parses a YES/NO answer robustly.

Both return a `Verdict(noticed, evidence)`; `first_noticed_step` runs a judge over a chain's
(step, reasoning) pairs in step order. `StoredJudge` keeps an LLM judge's verdicts in the
store, so a question is paid for once across cells, xdist workers and runs.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from filelock import FileLock

from iqa_audit.core.errors import ConfigError, EditorError, explain
from iqa_audit.core.keys import digest
from iqa_audit.vlm.client import GeminiTextClient

if TYPE_CHECKING:
    from iqa_audit.store.store import Store

# ----- values -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What a judge says about one reasoning text."""

    noticed: bool
    evidence: str | None = None  # the phrase that shows it, or the judge's quote


@dataclass(frozen=True)
class Judgement:
    """A verdict at one step of a chain."""

    step: int
    noticed: bool
    evidence: str | None


@dataclass(frozen=True)
class DelaySummary:
    """First-noticed steps over runs. mean/sd cover the runs that noticed at all.

    Runs that never noticed are right-censored (the chain ended first); they are counted in
    `runs` but not in `mean`, so with few noticing runs the mean understates the delay.
    """

    runs: int
    noticed_runs: int
    mean: float | None
    sd: float | None  # sample standard deviation; None with fewer than two noticing runs
    steps: tuple[int | None, ...]

    def describe(self) -> str:
        if self.mean is None:
            return f"never noticed in {self.runs} runs"
        spread = f" ± {self.sd:.1f}" if self.sd is not None else ""
        return f"noticed at step {self.mean:.1f}{spread} ({self.noticed_runs}/{self.runs} runs)"


Judge = Callable[[str | None], Verdict]


# ----- keyword judge --------------------------------------------------------------------------------

# Words that, said about the image being edited, mean the model saw quality damage.
# Bare "grain" is left out on purpose ("wood grain" describes content), as are "blur" and
# "static" alone ("blurred background" and "static scene" describe content too).
_DEGRADATION = re.compile(
    r"""\b(
        noise | noisy | noisiness |
        grainy | graininess | grain(?=\s+(?:noise|artifacts?|artefacts?|pattern|texture))| film\s+grain |
        pixelat(?:ed|ion|ing) | pixeli[sz](?:ed|ation) | pixelly |
        compression | jpe?g\s+artifacts? | blocky | blockiness | macroblock(?:s|ing)? |
        artifacts? | artefacts? | artifacting |
        distort(?:ed|ion|ions) |
        speckl(?:e|es|ed|ing) | static\s+noise | (?:tv|digital)\s+static |
        banding | posteri[sz](?:ed|ation) | dithering |
        degrad(?:ed|ation) | low[-\s]quality | low[-\s]resolution | lossy |
        blurry | blurriness | loss\s+of\s+(?:detail|sharpness) |
        color\s+cast | colour\s+cast | green(?:ish)?\s+tint | chromatic\s+aberration
    )\b""",
    re.IGNORECASE | re.VERBOSE,
)

# Contexts where "artifacts" means objects, not image damage.
_NOT_DAMAGE = re.compile(
    r"\b(ancient|historical|archaeological|museum|cultural|religious)\s+(artifacts?|artefacts?)\b", re.IGNORECASE
)

# Said before the term, in the same clause: the term is denied, avoided or only considered.
_NEGATION_BEFORE = re.compile(
    r"""\b(
        no | not | never | none | nor | without | zero | neither |
        free\s+(?:of|from) | lack(?:s|ing)?(?:\s+(?:of|any))? | absence\s+of | absent |
        avoid(?:s|ing)? | prevent(?:s|ing)? | minimi[sz](?:e|es|ing) | eliminat(?:e|es|ing) |
        check(?:s|ing)?\s+(?:for|whether|if) | look(?:s|ing)?\s+for | watch(?:ing)?\s+for |
        whether | (?<!\bas\s)if | ensur(?:e|es|ing) | mak(?:e|es|ing)\s+sure | careful |
        don't | doesn't | isn't | aren't | wasn't | weren't | won't | shouldn't | can't | cannot |
        \w+n't
    )\b""",
    re.IGNORECASE | re.VERBOSE,
)

# Said right after the term: "noise-free", "artifacts are absent".
_NEGATION_AFTER = re.compile(
    r"^(?:-?\s*free\b|-less\b|\s+(?:is|are|was|were)\s+(?:absent|not\b|nowhere)|\s+(?:isn't|aren't|wasn't|weren't)\b)",
    re.IGNORECASE,
)

# Verbs that presuppose the damage is there: after a negation they cancel it
# ("without removing the noise", "I won't try to fix the grainy texture" both notice it).
_PRESUPPOSES_PRESENCE = re.compile(
    r"\b(remov\w*|reduc\w*|clean\w*|fix\w*|correct\w*|denois\w*|preserv\w*|keep\w*|retain\w*|replicat\w*|reproduc\w*|smooth\w*)\b",
    re.IGNORECASE,
)

# Clause boundaries: sentence punctuation, and conjunctions that start a new assertion.
_CLAUSE_BREAK = re.compile(
    r"[.;:!?\n]|,\s*(?:and|but|so|yet|although|though|while|whereas|which)\b|\b(?:but|however|although|though|whereas|yet)\b",
    re.IGNORECASE,
)

NEGATION_WINDOW_WORDS = 6  # how far back a negation reaches ("without adding any new compression artifacts")


def keyword_judge(reasoning: str | None) -> Verdict:
    """Does this reasoning text say the image is degraded? Deterministic keyword heuristic."""
    if not reasoning or not reasoning.strip():
        return Verdict(False, None)
    text = _NOT_DAMAGE.sub(lambda m: " " * len(m.group(0)), reasoning)
    for match in _DEGRADATION.finditer(text):
        if _negated(text, match.start(), match.end()):
            continue
        return Verdict(True, _sentence_around(reasoning, match.start(), match.end()))
    return Verdict(False, None)


def _negated(text: str, start: int, end: int) -> bool:
    if _NEGATION_AFTER.match(text[end:]):
        return True
    clause_start = 0
    for brk in _CLAUSE_BREAK.finditer(text, 0, start):
        clause_start = brk.end()
    before = text[clause_start:start]
    window = " ".join(re.findall(r"[\w'’-]+", before)[-NEGATION_WINDOW_WORDS:]).replace("’", "'")
    cues = list(_NEGATION_BEFORE.finditer(window))
    if not cues:
        return False
    return not _PRESUPPOSES_PRESENCE.search(window[cues[-1].end() :])


def _sentence_around(text: str, start: int, end: int, limit: int = 160) -> str:
    left = max(text.rfind(c, 0, start) for c in ".!?\n") + 1
    rights = [i for i in (text.find(c, end) for c in ".!?\n") if i != -1]
    right = min(rights) + 1 if rights else len(text)
    sentence = " ".join(text[left:right].split())
    if len(sentence) <= limit:
        return sentence
    centre = start - left
    lo = max(0, centre - limit // 2)
    return "…" + sentence[lo : lo + limit].strip() + "…"


# ----- chains and runs ----------------------------------------------------------------------------------


def judge_steps(reasonings: Iterable[tuple[int, str | None]], judge: Judge = keyword_judge) -> list[Judgement]:
    """The judge's verdict at every step, in step order (None reasoning = nothing said)."""
    pairs = sorted(reasonings, key=lambda pair: pair[0])
    steps = [s for s, _ in pairs]
    if len(set(steps)) != len(steps):
        raise ConfigError(
            explain("reasonings", expected="one entry per step", got=f"steps {steps}", fix="Pass each step's reasoning once.")
        )
    out = []
    for step, text in pairs:
        verdict = judge(text) if text else Verdict(False, None)
        out.append(Judgement(step, verdict.noticed, verdict.evidence))
    return out


def first_noticed(reasonings: Sequence[tuple[int, str | None]], judge: Judge = keyword_judge) -> Judgement | None:
    """The first step whose reasoning notices degradation, with its evidence; None if none does.

    Stops at the first positive, so a paid judge is not asked about later steps.
    """
    pairs = sorted(reasonings, key=lambda pair: pair[0])
    for step, text in pairs:
        if not text:
            continue
        verdict = judge(text)
        if verdict.noticed:
            return Judgement(step, True, verdict.evidence)
    return None


def first_noticed_step(reasonings: Sequence[tuple[int, str | None]], judge: Judge = keyword_judge) -> int | None:
    found = first_noticed(reasonings, judge)
    return found.step if found else None


def summarise_delays(per_run_first_steps: Iterable[int | None]) -> DelaySummary:
    """Mean ± sample sd of the first-noticed step over runs that noticed."""
    steps = tuple(per_run_first_steps)
    for s in steps:
        if s is not None and (isinstance(s, bool) or not isinstance(s, int) or s < 0):
            raise ConfigError(
                explain(
                    "first-noticed steps",
                    expected="non-negative integers or None",
                    got=repr(s),
                    fix="Pass first_noticed_step(...) results.",
                )
            )
    noticed = [s for s in steps if s is not None]
    mean = statistics.fmean(noticed) if noticed else None
    sd = statistics.stdev(noticed) if len(noticed) >= 2 else None
    return DelaySummary(runs=len(steps), noticed_runs=len(noticed), mean=mean, sd=sd, steps=steps)


# ----- LLM judge ----------------------------------------------------------------------------------------

# The study's judge prompt is not published verbatim; this one asks the same question and
# pins the answer format so parsing is reliable. Changing it changes verdicts: bump
# LLM_JUDGE_VERSION so cached verdicts are not mixed.
LLM_JUDGE_VERSION = "llm-judge-1"
LLM_JUDGE_PROMPT = """You are auditing an image-editing model. Below is the reasoning the model wrote while \
processing an input image. Decide whether the reasoning states or clearly implies that the INPUT IMAGE \
has visual quality degradation: noise, grain, static, pixelation, compression or other artifacts, \
distortion, blur, banding, or a colour cast.

Answer NO if degradation is only mentioned as something to avoid, check for, or not add \
(for example "without adding noise", "ensure no artifacts").

Reply with exactly one line: "YES: <short quote from the reasoning>" or "NO".

Reasoning:
<<<
{reasoning}
>>>"""

_ANSWER = re.compile(r"^\W*(?:answer|verdict|final answer)?\W*(yes|no)\b\W*(.*)$", re.IGNORECASE | re.DOTALL)


def parse_yes_no(answer: str) -> Verdict:
    """'YES: "quote"', '**No**', 'Answer: yes - ...' -> Verdict; anything else -> EditorError."""
    match = _ANSWER.match(answer.strip())
    if not match:
        # A model that thinks aloud first: accept a lone YES/NO on the last line.
        last = answer.strip().splitlines()[-1] if answer.strip() else ""
        match = _ANSWER.match(last.strip())
    if not match:
        raise EditorError(
            explain(
                "LLM judge answer",
                expected='"YES: <quote>" or "NO"',
                got=repr(answer[:200]),
                fix="Re-run; if it persists, use the keyword judge or another model.",
            )
        )
    noticed = match.group(1).lower() == "yes"
    quote = match.group(2).strip().strip("\"“”'*").strip() if noticed else ""
    return Verdict(noticed, quote or None)


class LLMJudge:
    """Asks a Gemini text model whether a reasoning text notices degradation (paid, cached per text)."""

    def __init__(
        self,
        *,
        model: str = "gemini-2.5-flash",
        base_url: str | None = None,
        max_retries: int = 5,
        sleep: Callable[[float], None] | None = None,
        max_chars: int = 20_000,
    ):
        self.model = model
        self.base_url = base_url
        self.max_retries = max_retries
        self.max_chars = max_chars
        self._sleep = sleep
        self._client = None  # a GeminiTextClient, created at the first question
        # The same text gets the same question once per judge: thought summaries repeat.
        self._cache: dict[str, Verdict] = {}

    @property
    def id(self) -> str:
        return f"{LLM_JUDGE_VERSION}/{self.model}"

    def __call__(self, reasoning: str | None) -> Verdict:
        if not reasoning or not reasoning.strip():
            return Verdict(False, None)  # nothing to judge: no need to pay for a question
        if reasoning in self._cache:
            return self._cache[reasoning]
        question = self.question(reasoning)
        if self._client is None:
            # The client behind ask_about_image, kept for reuse across the chain's steps.
            kwargs = {"sleep": self._sleep} if self._sleep is not None else {}
            self._client = GeminiTextClient(
                model=self.model, base_url=self.base_url, temperature=0.0, max_retries=self.max_retries, **kwargs
            )
        answer = self._client.ask(None, question)
        verdict = parse_yes_no(answer)
        self._cache[reasoning] = verdict
        return verdict

    def question(self, reasoning: str) -> str:
        """The exact text sent for `reasoning` (longer than `max_chars`: truncated, marked)."""
        text = reasoning if len(reasoning) <= self.max_chars else reasoning[: self.max_chars] + "\n[truncated]"
        return LLM_JUDGE_PROMPT.format(reasoning=text)


class StoredJudge:
    """An LLMJudge whose verdicts live in the store's memo table (kind "judge"), keyed by the
    judge's id (prompt version and model) and the exact question text: `--judge llm:...`
    asks each question once, whichever cell, xdist worker or later run needs it. Workers
    that need the same answer at once queue on a file lock (one of 256, by key) instead of
    both paying. Raises what the inner judge raises (EditorError for an unclear answer,
    which is not stored, so a re-run asks again)."""

    KIND = "judge"

    def __init__(self, store: Store, judge: LLMJudge):
        self.store = store
        self.judge = judge

    @property
    def id(self) -> str:
        return self.judge.id

    def __call__(self, reasoning: str | None) -> Verdict:
        if not reasoning or not reasoning.strip():
            return Verdict(False, None)
        key = digest([self.judge.id, self.judge.question(reasoning)])
        stored = self._stored(key)
        if stored is not None:
            return stored
        with FileLock(str(self.store.locks / f"judge-{key[:2]}.lock")):
            stored = self._stored(key)  # another worker may have asked while we waited
            if stored is not None:
                return stored
            verdict = self.judge(reasoning)
            self.store.put_memo(self.KIND, key, json.dumps({"noticed": verdict.noticed, "evidence": verdict.evidence}))
        return verdict

    def _stored(self, key: str) -> Verdict | None:
        memo = self.store.get_memo(self.KIND, key)
        if memo is None:
            return None
        value = json.loads(memo)
        return Verdict(bool(value["noticed"]), value["evidence"])

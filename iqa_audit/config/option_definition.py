"""What an option is: its value kind, where it is offered, its value checks, and how a value is parsed and refused.

The table of every option built from these is options.py's (its docstring says how the two
kinds of checking, `check` and `lookup`, are used).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from iqa_audit.config.value_lists import split_csv, split_specs
from iqa_audit.core.errors import ConfigError, explain

# Value kinds: how a command-line string becomes a config value.
NAMES = "names"  # repeatable, commas allowed: --metric a --metric b,c -> ("a", "b", "c")
SPECS = "specs"  # repeatable editor specs: a comma before key=value continues a spec (split_specs)
INT = "int"  # a whole number
FLOAT = "float"  # a number: --fail-on-drop 0.05
INTS = "ints"  # comma-separated whole numbers: --delta-steps 5,10,20 -> (5, 10, 20)
TEXT = "text"  # one string
FLAG = "flag"  # present or not
ITEMS = "items"  # repeatable, each value whole (commas are part of it): --ignore "a,b.txt" -> ("a,b.txt",)

# Where an option is offered. "pytest" is the plugin; the others are `iqa-audit` subcommands.
PYTEST, BUILD, SCORE, IMPORT = "pytest", "build", "score", "import"
CHAINS = frozenset({PYTEST, BUILD, SCORE})  # options that shape the chains
AUDIT = frozenset({PYTEST})
SETTING = frozenset({"setting"})  # pyproject.toml only: no command line offers it (empty flag)


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


def fraction(value: Any) -> str | None:
    """A number from 0 to 1 (a share: 0.05 is five points of a score in [0, 1])."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0
    return None if ok else "a number from 0 to 1"


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
    FLOAT: "a number (a TOML float such as 0.05, without quotes)",
    INTS: "a list of whole numbers such as [5, 10, 20]",
    NAMES: 'a name or a list of names such as ["a", "b"]',
    SPECS: 'an editor spec or a list of them such as ["codec-jpeg:quality=50"]',
    TEXT: "a string (in quotes)",
    FLAG: "true or false (a TOML boolean, without quotes)",
    ITEMS: 'a string or a list of strings such as ["*.txt"]',
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
        elif self.kind in (NAMES, SPECS, ITEMS):
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
        if self.kind == ITEMS:
            return tuple(str(v) for v in raw or ()) or None
        if raw is None:
            return None
        if self.kind == INT:
            return _whole(self.flag, raw)
        if self.kind == FLOAT:
            return _number(self.flag, raw, self.example)
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
            FLOAT: isinstance(value, (int, float)) and not isinstance(value, bool),
            INTS: (isinstance(value, list) and bool(value) and all(_is_int(v) for v in value))
            or (isinstance(value, str) and bool(split_csv([value]))),
            NAMES: isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)),
            TEXT: isinstance(value, str),
            FLAG: isinstance(value, bool),
        }.get(self.kind)
        if self.kind in (SPECS, ITEMS):
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
            got = cli_text(value) if isinstance(value, (list, tuple)) else repr(value)  # as typed: 1,30, not (1, 30)
            return ConfigError(explain(self.flag, expected=expected, got=got, fix=f"Pass e.g. {example}."))
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


def _number(flag: str, raw: Any, example: Any) -> float:
    try:
        return float(str(raw).strip())
    except ValueError:
        raise ConfigError(explain(flag, expected="a number", got=repr(raw), fix=f"Pass e.g. {flag} {example}.")) from None


def _bad_list(flag: str, raw: Any):
    raise ConfigError(
        explain(flag, expected="comma-separated whole numbers such as 5,10,20", got=repr(raw), fix=f"Pass e.g. {flag} 5,10,20.")
    )

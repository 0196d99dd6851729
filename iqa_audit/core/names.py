"""One way to turn a user-given name into an id: seed files, chain settings, imported
datasets, their seeds and settings, report run names.

An id keeps every letter, mark and digit of any script (`café` stays `café`, `猫` stays
`猫`), lower-cases (Unicode case folding) and turns every run of anything else into one
`-`. Text is NFKC-normalised first, so the same name typed two ways (a precomposed `é` or
`e` + combining accent, a full-width `Ａ`) gives the same id. A name with no letter or digit
at all (`🍌`, `---`) gets `x-` and the first 8 hex digits of the name's sha256, so it is
still an id, still stable, and still distinct from other such names.

Two different names can still give one id (`Café` and `café`, `a b` and `a-b`): that is
a real collision, and `distinct_ids` refuses it naming both originals, never merging them.
"""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Iterable

from iqa_audit.core.errors import ConfigError, explain

# Unicode major categories kept in an id: Letters, Marks (accents, vowel signs of
# Devanagari, ...), Numbers. Everything else separates words.
_KEPT_CATEGORIES = frozenset("LMN")
_KEPT_CHARS = frozenset(".")  # versions and sizes read better as 1.5 than 1-5


def slug(text: str) -> str:
    """The id of a user-given name: str -> non-empty str of letters, marks, digits, '.', '-'.

    Never starts or ends with '-' or '.', so it is safe as one path component (no '..').
    Pure and stable: the same text gives the same id on every machine and release.
    """
    norm = unicodedata.normalize("NFKC", str(text)).casefold()
    out: list[str] = []
    for ch in norm:
        if ch in _KEPT_CHARS or unicodedata.category(ch)[0] in _KEPT_CATEGORIES:
            out.append(ch)
        elif out and out[-1] != "-":
            out.append("-")
    ident = "".join(out).strip("-.")
    if not any(unicodedata.category(ch)[0] in "LN" for ch in ident):
        return "x-" + hashlib.sha256(norm.encode("utf-8")).hexdigest()[:8]
    return ident


def distinct_ids(names: Iterable[str], *, what: str, where: str) -> dict[str, str]:
    """{original name: id} for every distinct name; ConfigError when two names share an id.

    `what` names the kind ("seed", "setting"), `where` the source ("dataset manifest
    m.csv") for the message, which lists every colliding pair with both originals.
    """
    ids: dict[str, str] = {}
    owner: dict[str, str] = {}
    clashes: list[str] = []
    for name in dict.fromkeys(names):
        ident = slug(name)
        ids[name] = ident
        if ident in owner and owner[ident] != name:
            clashes.append(f"{owner[ident]!r} and {name!r} both become {what} id {ident!r}")
        owner.setdefault(ident, name)
    if clashes:
        raise ConfigError(
            explain(
                f"{what} names in {where}",
                expected="names that stay distinct as ids",
                got="; ".join(clashes),
                fix=f"Rename one {what} of each pair (ids ignore case, and spaces, '_' and '-' are alike).",
            )
        )
    return ids

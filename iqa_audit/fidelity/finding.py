"""What every fidelity check returns: a `Finding`, and the argument checks they share.

A finding is one check's outcome on one (reference, output) pair or one chain: the
headline number, the tolerance it was held to, a verdict, JSON-able details and the
one-line message a failing test prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from iqa_audit.core.errors import BadImageError, ConfigError, explain
from iqa_audit.core.images import Image


@dataclass(frozen=True)
class Finding:
    """One check's outcome.

    `value` is the headline number and `tolerance` its limit. Which side of the limit
    passes is the check's direction (`higher_is_better` in the check table): a deviation
    passes when |value| <= tolerance, a similarity or a rate (SSIM, a success rate) when
    value >= tolerance. `details` is read-only and holds only JSON-able numbers, strings,
    tuples and mappings; `to_dict()` gives a plain dict for `json.dumps`.
    """

    check: str
    passed: bool
    value: float
    tolerance: float
    details: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    message: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", _freeze(self.details))
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "tolerance", float(self.tolerance))
        object.__setattr__(self, "passed", bool(self.passed))

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "passed": self.passed,
            "value": self.value,
            "tolerance": self.tolerance,
            "details": _thaw(self.details),
            "message": self.message,
        }


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.ndarray):
        return tuple(_freeze(v) for v in value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if value is None or isinstance(value, str):
        return value
    raise ConfigError(
        explain(
            "Finding.details value",
            expected="numbers, strings, lists or mappings",
            got=type(value).__name__,
            fix="Convert it before building the Finding.",
        )
    )


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def _image(value: Any, name: str) -> Image:
    if isinstance(value, Image):
        return value
    fix = (
        "Wrap arrays with Image.from_array(...)."
        if isinstance(value, np.ndarray)
        else "Load it with load_image(path) or decode_image(bytes)."
    )
    raise BadImageError(explain(f"{name} image", expected="an iqa_audit.core.images.Image", got=type(value).__name__, fix=fix))


def _array(value: Any, name: str) -> np.ndarray:
    a = np.asarray(value)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8 or 0 in a.shape:
        raise BadImageError(
            explain(
                name,
                expected="an (H, W, 3) uint8 array or an Image",
                got=f"{a.dtype} array of shape {a.shape}",
                fix="Use Image.from_array.",
            )
        )
    return a


def _non_negative(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not value >= 0:
        raise ConfigError(explain(name, expected="a number >= 0", got=repr(value), fix="Pass a non-negative tolerance."))

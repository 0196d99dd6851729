"""The study's editor families and the free setting that stands for each, with what the study found.

Banana100 saw each image editor leave its own artifacts when it re-edited its own output,
and found the old no-reference metrics fooled by some of them: a setting here stands for a
family only if it fools (or not) the study's trained metrics the way that family's output
did, which `iqa_audit/suite/metrics/test_model_like.py` checks with BRISQUE (its authors' LIVE model)
and PIQE on the default seeds, with the suite's own verdicts. `sim-noise-tint` is the
control: white noise, the distortion those metrics were trained on, which they notice.

One entry per family; `expect` maps a metric to the least number of the 13 procedural
seeds on which it must be fooled ("fooled") or must notice ("notices") at the default
size, from the study's findings (Banana100, Sections 4-5) and issue 21's acceptance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class Family:
    """One editor family: the study's model, what it did to images, and the setting standing for it.

    `expect`: {metric name: (verdict, least number of seeds)}, verdict 'fooled' (the metric
    misses the degradation: some conclusive Δ gap is not negative) or 'notices' (every
    conclusive Δ gap negative).
    """

    model: str
    artifacts: str
    setting: str
    expect: Mapping[str, tuple[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "expect", MappingProxyType(dict(self.expect)))


FAMILIES: tuple[Family, ...] = (
    Family(
        "white noise (control)",
        "independent Gaussian noise and a green tint: the LIVE database's kind of distortion",
        "sim-noise-tint",
        {"pyiqa:brisque": ("notices", 11), "pyiqa:piqe": ("notices", 11)},
    ),
    Family(
        "Nano Banana Pro",
        "static noise and a green tint; BRISQUE 34.1 -> -9.8 after 20 replications (Figure 1)",
        "sim-grain-tint",
        {"pyiqa:brisque": ("fooled", 7), "pyiqa:piqe": ("fooled", 7)},
    ),
    Family(
        "Nano Banana 2 Fast",
        "wrinkles along object contours; PI and PIQE fail on almost every seed",
        "sim-wrinkles",
        {"pyiqa:piqe": ("fooled", 10)},
    ),
    Family("FLUX.2 [dev]", "scatter points: isolated bright and dark specks that multiply", "sim-scatter"),
    Family(
        "Qwen-Image-Edit",
        "simplified texture (and duplicated objects); PI and PIQE fully succeed",
        # strength 2: at 512 px strength 1 stays a converging 3-wide median, and on the
        # smooth seeds nothing visible changes (inconclusive); see TextureLoss.
        "sim-texture-loss:strength=2",
        {"pyiqa:piqe": ("notices", 12)},
    ),
)

CONTROL = "sim-noise-tint"  # the white-noise control: not model-like

BY_SETTING: Mapping[str, Family] = MappingProxyType({f.setting: f for f in FAMILIES})
BY_EDITOR: Mapping[str, Family] = MappingProxyType({f.setting.partition(":")[0]: f for f in FAMILIES})

# The metric audit's settings beyond the codec one, in table order.
SETTINGS: tuple[str, ...] = tuple(f.setting for f in FAMILIES)


def model_like(editor: str | None) -> bool:
    """Whether chains of editor spec `editor` stand for model output: a family's setting
    other than the white-noise control (a classic codec does not either)."""
    name = (editor or "").partition(":")[0]
    return name in BY_EDITOR and name != CONTROL

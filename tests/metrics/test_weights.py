"""Weights: predicted file locations, the skip path, and fetching through pyiqa's own
loader from a local HTTP server (no internet): the file lands in $TORCH_HOME, where
missing_weights then finds it and the metric loads offline."""

from __future__ import annotations

import hashlib
import io
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from iqa_audit.core.console import cli_command
from iqa_audit.core.images import Image
from iqa_audit.metrics import MetricUnavailable, create_metric
from iqa_audit.metrics.fetch import fetch_weights, weights_main
from iqa_audit.metrics.weights import missing_weights, required_weights

FETCH = cli_command("weights", "--metric")


@pytest.fixture()
def torch_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


@pytest.fixture()
def weight_server(tmp_path, monkeypatch):
    """A local HTTP server for fake weight files; yields (base_url, served_dir, request_log)."""
    served = tmp_path / "served"
    served.mkdir()
    log: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(served), **kw)

        def do_GET(self):
            log.append(self.path)
            super().do_GET()

        def log_message(self, *args):  # keep test output clean
            pass

    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served, log
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def fake_niqe_params() -> bytes:
    """A valid NIQE parameter file (36 features, identity covariance): pyiqa loads and scores with it."""
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"mu_prisparam": np.zeros((1, 36)), "cov_prisparam": np.eye(36)})
    return buf.getvalue()


def smooth_image(seed: int) -> Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:192, 0:192].astype(np.float64)
    g = 120 + 50 * np.sin(x / 11.0) * np.cos(y / 7.0) + rng.normal(0, 3, (192, 192))
    return Image.from_array(np.clip(np.repeat(g[:, :, None], 3, axis=2), 0, 255).astype(np.uint8))


# ----- prediction ------------------------------------------------------------------------------------


def test_predicted_files_follow_torch_home(torch_home):
    musiq = required_weights("pyiqa:musiq")
    assert [(w.loader, w.path) for w in musiq] == [("pyiqa", torch_home / "hub" / "pyiqa" / "musiq_koniq_ckpt-e95806b9.pth")]
    assert musiq[0].url.endswith("/musiq_koniq_ckpt-e95806b9.pth")
    tres = {w.loader: w.path for w in required_weights("pyiqa:tres")}
    assert tres["torch.hub"] == torch_home / "hub" / "checkpoints" / "resnet50-0676ba61.pth"
    assert tres["pyiqa"].name == "tres_koniq-f0502926.pth"
    clip = {w.loader: w.path for w in required_weights("pyiqa:clipiqa")}
    assert clip == {"clip": torch_home / "hub" / "clip" / "RN50.pt"}
    # PI is NRQM + NIQE: both parameter files.
    assert {w.path.name for w in required_weights("pyiqa:pi")} == {"NRQM_model.mat", "niqe_modelparameters.mat"}


def test_weight_free_and_non_pyiqa_metrics_need_nothing(torch_home):
    for name in ("pyiqa:piqe", "pyiqa:entropy", "iqa_audit:noise-sigma", "tests.plugin_metric_example:sharpness"):
        assert required_weights(name) == [] and missing_weights(name) == []


@pytest.mark.parametrize(
    "metric",
    [
        "arniqa",
        "brisque",
        "clipiqa",
        "cnniqa",
        "dbcnn",
        "hyperiqa",
        "ilniqe",
        "liqe",
        "maniqa",
        "musiq",
        "nima",
        "niqe",
        "nrqm",
        "paq2piq",
        "pi",
        "qualiclip",
        "topiq_nr",
        "tres",
        "wadiqam_nr",
    ],
)
def test_every_study_metric_has_a_prediction(torch_home, metric):
    files = required_weights(f"pyiqa:{metric}")
    assert files, metric
    pyiqa_files = [w for w in files if w.loader == "pyiqa"]
    assert all(w.path.parent == torch_home / "hub" / "pyiqa" for w in pyiqa_files)
    assert all(w.url.startswith("https://") for w in files)


# ----- the skip path ----------------------------------------------------------------------------------


def test_empty_torch_home_means_missing_and_unavailable(torch_home):
    missing = missing_weights("pyiqa:musiq")
    assert missing == [torch_home / "hub" / "pyiqa" / "musiq_koniq_ckpt-e95806b9.pth"]
    with pytest.raises(MetricUnavailable) as e:
        create_metric("pyiqa:musiq")
    assert "musiq_koniq_ckpt-e95806b9.pth" in str(e.value) and f"{FETCH} pyiqa:musiq" in str(e.value)
    assert not torch_home.exists() or not any(torch_home.rglob("*.pth"))


# ----- fetching from a local server -------------------------------------------------------------------


def test_fetch_lands_in_torch_home_and_the_metric_then_loads_offline(torch_home, weight_server, monkeypatch):
    import pyiqa.archs.niqe_arch as niqe_arch

    base, served, log = weight_server
    data = fake_niqe_params()
    (served / "niqe_modelparameters.mat").write_bytes(data)
    # pyiqa downloads from its default_model_urls table: point that entry at the local server.
    monkeypatch.setitem(niqe_arch.default_model_urls, "url", f"{base}/niqe_modelparameters.mat")

    target = torch_home / "hub" / "pyiqa" / "niqe_modelparameters.mat"
    assert missing_weights("pyiqa:niqe") == [target]
    files = fetch_weights("pyiqa:niqe")  # downloads, then creates the metric once to prove it loads
    assert files == [target] and target.read_bytes() == data
    assert log == ["/niqe_modelparameters.mat"]
    assert missing_weights("pyiqa:niqe") == []

    m = create_metric("pyiqa:niqe")  # offline: every download path blocked, so this read the file
    digest = hashlib.sha256(hashlib.sha256(data).hexdigest().encode()).hexdigest()[:12]
    from iqa_audit.metrics.pyiqa_adapter import scoring_code_digest

    assert m.version == f"pyiqa-0.1.16+{digest}+code-{scoring_code_digest()[:12]}"
    s = m.score([smooth_image(1), smooth_image(2)])
    assert np.all(np.isfinite(s))

    # Present files are not fetched again.
    assert fetch_weights("pyiqa:niqe", verify=False) == [target] and len(log) == 1


def test_weights_main_reports_fetched_and_present(torch_home, weight_server, monkeypatch, capsys):
    import pyiqa.archs.nrqm_arch as nrqm_arch

    base, served, log = weight_server
    (served / "NRQM_model.mat").write_bytes(b"not a real model")
    monkeypatch.setitem(nrqm_arch.default_model_urls, "url", f"{base}/NRQM_model.mat")
    monkeypatch.setattr(
        "iqa_audit.metrics.pyiqa_loading.build_pyiqa_model", lambda *a, **k: None
    )  # fake file: skip the load check

    assert weights_main(["pyiqa:nrqm", "iqa_audit:noise-sigma"]) == 0
    out = capsys.readouterr().out
    target = torch_home / "hub" / "pyiqa" / "NRQM_model.mat"
    assert f"pyiqa:nrqm: fetched: {target}" in out
    assert "iqa_audit:noise-sigma: needs no weight files" in out

    assert weights_main(["pyiqa:nrqm"]) == 0
    assert f"pyiqa:nrqm: already present: {target}" in capsys.readouterr().out
    assert log == ["/NRQM_model.mat"]


def test_weights_main_reports_a_failed_download(torch_home, weight_server, monkeypatch, capsys):
    import pyiqa.archs.niqe_arch as niqe_arch

    base, _served, _log = weight_server
    monkeypatch.setitem(niqe_arch.default_model_urls, "ilniqe", f"{base}/ILNIQE_templateModel.mat")  # not served: 404
    assert weights_main(["pyiqa:ilniqe"]) == 1
    err = capsys.readouterr().err
    assert "pyiqa:ilniqe: FAILED" in err and "404" in err
    assert missing_weights("pyiqa:ilniqe") == [torch_home / "hub" / "pyiqa" / "ILNIQE_templateModel.mat"]

"""An edited metric is re-scored: the code between pixels and a score is in every built-in
metric's version (scores are cached under it), and in the identity fingerprint a warm run
trusts instead of loading pyiqa."""

from __future__ import annotations

import sys

import pytest

from iqa_audit.core import keys
from iqa_audit.metrics import create_metric
from iqa_audit.metrics import identity as identity_mod


def test_installed_code_digest_changes_when_a_package_file_is_edited_without_importing_it(tmp_path, monkeypatch):
    pkg = tmp_path / "iqa_audit_fake_lib"
    (pkg / "archs").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    (pkg / "archs" / "net.py").write_text("SCALE = 1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    keys.installed_code_digest.cache_clear()
    try:
        before = keys.installed_code_digest("iqa_audit_fake_lib")
        assert keys.installed_code_digest("iqa_audit_fake_lib") == before
        (pkg / "archs" / "net.py").write_text("SCALE = 2.0\n")
        keys.installed_code_digest.cache_clear()  # a process reads it once; a new run sees the edit
        assert keys.installed_code_digest("iqa_audit_fake_lib") != before
        assert "iqa_audit_fake_lib" not in sys.modules
        with pytest.raises(ValueError, match="iqa_audit_no_such_lib.*not installed"):
            keys.installed_code_digest("iqa_audit_no_such_lib")
    finally:
        keys.installed_code_digest.cache_clear()


def test_a_pyiqa_metric_version_carries_the_adapter_and_pyiqa_source(monkeypatch):
    from iqa_audit.metrics import pyiqa_adapter

    m = create_metric("pyiqa:piqe")
    code = pyiqa_adapter.scoring_code_digest()
    assert m.version.endswith(f"+code-{code[:12]}")
    # An edited pyiqa (say a patched network file) is another digest, hence another version.
    monkeypatch.setattr(keys, "installed_code_digest", lambda package: f"edited {package}")
    assert pyiqa_adapter.scoring_code_digest() != code


def test_the_identity_fingerprint_changes_when_pyiqa_source_changes(monkeypatch):
    before = identity_mod.fingerprint("pyiqa:piqe")
    monkeypatch.setattr(identity_mod, "installed_code_digest", lambda package: "edited")
    assert identity_mod.fingerprint("pyiqa:piqe") != before


def test_a_classic_metric_version_changes_when_its_source_changes(monkeypatch):
    from iqa_audit.metrics import classic

    before = classic.create_noise_sigma().version
    assert before == create_metric("iqa_audit:noise-sigma").version
    monkeypatch.setattr(keys, "code_digest", lambda *modules: "edited source")
    assert classic.create_noise_sigma().version != before

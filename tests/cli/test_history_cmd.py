"""`iqa-audit history`: a subject with no stored card says which ones the store holds."""

from __future__ import annotations

from iqa_audit.analysis.cards import PairOutcome, metric_card
from iqa_audit.cli.main import main
from iqa_audit.store.store import Store


def _store_cards(root, *subjects):
    store = Store(root)
    for subject in subjects:
        outcomes = [PairOutcome("sim-grain-tint-replicate", "a", 1, 1)]
        store.put_card(metric_card(subject=subject, name=subject, version="1", outcomes=outcomes, shape={}).to_dict())
    store.close()


def test_a_misspelt_subject_gets_the_closest_stored_ones(tmp_path, capsys):
    _store_cards(tmp_path / "s", "brisque", "piqe", "entropy")
    assert main(["history", "--metric", "pyiqa:brisqe", "--store", str(tmp_path / "s")]) == 1
    assert "no cards stored for brisqe" in (out := capsys.readouterr().out) and "did you mean brisque" in out
    assert main(["history", "--metric", "musiq", "--store", str(tmp_path / "s")]) == 1
    assert "it holds cards of brisque, entropy, piqe" in capsys.readouterr().out
    assert main(["history", "--metric", "musiq", "--store", str(tmp_path / "empty")]) == 1
    assert "run an audit with that store first" in capsys.readouterr().out
    assert main(["history", "--metric", "piqe", "--store", str(tmp_path / "s")]) == 0
    assert capsys.readouterr().out.startswith("metric piqe:")

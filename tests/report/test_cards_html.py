"""The report header's cards and the terminal's card lines, from hand-made cards."""

from __future__ import annotations

from iqa_audit.analysis.cards import PairOutcome, metric_card
from iqa_audit.analysis.editor_cards import editor_card
from iqa_audit.audit.card_lines import comparison_lines, history_lines, section_lines
from iqa_audit.report.cards_html import cards_html
from iqa_audit.report.header_html import page_header

SHAPE = {"steps": 20}


def m(subject, noticed, version="1", shape=SHAPE):
    outcomes = [PairOutcome("sim-grain-tint-replicate", str(i), 1, int(i < noticed)) for i in range(4)]
    return metric_card(subject=subject, name=subject, version=version, outcomes=outcomes, shape=shape)


def section():
    cards = [m("entropy", 3), m("brisque", 0)]
    ed = editor_card(subject="codec-jpeg", version="1", chains=[], checks=[("tint", "replicate", True)], shape=SHAPE)
    old = m("entropy", 4, version="0")
    return {
        "metrics": [c.to_dict() for c in cards],
        "editors": [ed.to_dict()],
        "history": {"metric:entropy": [old.to_dict(), cards[0].to_dict()], "metric:brisque": [cards[1].to_dict()]},
    }


def test_the_header_ranks_the_metric_cards_marks_the_reference_rows_and_draws_the_history():
    html = page_header({"cards": section()}, [])
    assert html.index(">entropy<") < html.index(">brisque")  # ranked: 0.75 before 0.00
    assert "study reference" in html and "<svg" in html and "0 <b>1.00</b> → 1 <b>0.75</b>" in html
    assert "Editor cards" in html and "codec-jpeg" in html
    assert cards_html({}) == ""  # an older results.json has no cards


def test_the_summary_lines_rank_and_show_the_previous_score():
    lines = section_lines(section())
    rows = [x for x in lines if x.startswith("  1 ") or x.startswith("  2 ")]
    assert rows[0].split()[1] == "entropy" and "0.75 [0.30, 0.95]" in rows[0] and "3/4" in rows[0]
    assert "(study ref.)" in rows[1]
    assert "  metric:entropy: 1.00 [0.51, 1.00] (0) -> 0.75 [0.30, 0.95] (1)" in lines


def test_history_lines_say_where_the_chain_set_changed():
    rows = [(0.0, m("piqe", 1, "a")), (60.0, m("piqe", 2, "b")), (120.0, m("piqe", 2, "b", shape={"steps": 6}))]
    lines = history_lines(rows)
    assert lines[0] == "metric piqe:" and len(lines) == 5
    assert "chain set changed (not comparable): steps: 20 then 6" in lines[3]


def test_compare_editor_lines_put_each_editor_beside_the_compared_one_and_say_which_is_better():
    def ed(subject, passed, cells=20):
        checks = [("tint", "replicate", i < passed) for i in range(cells)]
        return editor_card(subject=subject, version="1", chains=[], checks=checks, shape=SHAPE).to_dict()

    worse = {"editors": [ed("mine:v=2", 4), ed("mine:v=1", 19)]}
    (line,) = comparison_lines(worse, ["mine:v=1"])
    assert line.startswith("editor mine:v=2 vs mine:v=1: checks 0.20 [") and line.endswith(": worse")
    assert "no replication chain measured vs no replication chain measured" in line  # not 'never': nothing was measured
    same = {"editors": [ed("mine:v=2", 18), ed("mine:v=1", 19)]}
    assert comparison_lines(same, ["mine:v=1"])[0].endswith("no clear difference (intervals overlap)")
    assert comparison_lines({"editors": [ed("mine:v=2", 20), ed("mine:v=1", 2)]}, ["mine:v=1"])[0].endswith(": better")
    assert comparison_lines(worse, ["gone"]) == ["--compare-editor gone: no card (none of its editor cells ran)"]


def test_an_editor_whose_every_cell_errored_reads_error_not_worse(tmp_path):
    """A newcomer's trial: an editor that raised at every step got 0.00 (0/23) and 'worse'."""
    from iqa_audit.results.cards import editor_cards
    from iqa_audit.results.records import EditorRecord
    from iqa_audit.store.store import Store

    class Cfg:
        run_name, seeds, seed_dirs, long_side = "r", (), (), 64
        audit_cases, audit_steps, audit_runs, audit_editors = ("replicate:a",), 4, 1, ("broken",)

    errored = [
        EditorRecord(cell=f"editor:{check}-broken", check=check, setting="broken-replicate", seed="a", editor="broken",
                     task="replicate", outcome="error", passed=False, value=None, version="1", error="EditorStepError: ...",
                     error_type="EditorStepError")
        for check in ("tint", "aspect_ratio")
    ]  # fmt: skip
    (card,) = editor_cards(Cfg(), errored, Store(tmp_path / "store"))
    assert (card.errors, card.checks, card.score) == (2, 0, None)
    old = editor_card(subject="ok", version="1", chains=[], checks=[("tint", "replicate", True)], shape=card.shape)
    lines = section_lines({"editors": [card.to_dict(), old.to_dict()]})
    row = next(x for x in lines if x.lstrip().startswith("broken"))
    assert row.split()[1] == "error" and "0/0, 2 error" in row, row
    (compared,) = comparison_lines({"editors": [card.to_dict(), old.to_dict()]}, ["ok"])
    assert compared.endswith("no score to compare (broken: every cell errored)"), compared


def test_an_editor_card_says_never_only_for_chains_it_measured():
    from iqa_audit.analysis.editor_cards import ChainChanges
    from iqa_audit.analysis.evidence import Change

    same = Change(None, 1.0, "identity")
    steady = ChainChanges("x", {1: (None, same), 2: (same, same)})
    measured = editor_card(subject="steady", version="1", chains=[steady], checks=[("tint", "replicate", True)], shape=SHAPE)
    unmeasured = editor_card(subject="none", version="1", chains=[], checks=[("tint", "replicate", True)], shape=SHAPE)
    lines = section_lines({"editors": [measured.to_dict(), unmeasured.to_dict()]})
    assert "never / never (1 chains)" in next(x for x in lines if x.lstrip().startswith("steady"))
    assert "- (no replication chain measured)" in next(x for x in lines if x.lstrip().startswith("none"))

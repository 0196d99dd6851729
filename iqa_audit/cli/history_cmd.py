"""`iqa-audit history [--metric M | --editor E]`: the stored robustness cards of a metric or an editor over its versions.

Every finished audit run keeps its cards in the store (store/schema.py's `cards` table;
audit/history.py). This prints them per subject, oldest first: the score with its 95 %
interval, the version, the suite's version, the chain set's fingerprint and the run,
and says where the chain set changed (scores across such a line are not comparable).
"""

from __future__ import annotations

from iqa_audit.audit.card_lines import history_lines
from iqa_audit.audit.history import history_rows
from iqa_audit.config.value_lists import split_csv, split_specs
from iqa_audit.core.errors import ConfigError, close_names, explain
from iqa_audit.metrics.registry import metric_id
from iqa_audit.store.store import Store


def run_history(args) -> int:
    """Print the series; exit 0, or 1 when nothing is stored for what was asked."""
    metrics = [metric_id(m) for m in split_csv(getattr(args, "metrics", None) or [])]
    editors = list(split_specs(getattr(args, "editors", None) or []))
    if metrics and editors:
        raise ConfigError(
            explain(
                "history",
                expected="--metric or --editor, not both",
                got=f"--metric {','.join(metrics)} and --editor {','.join(editors)}",
                fix="Pass e.g. --metric pyiqa:piqe, or --editor codec-jpeg, or neither for every card.",
            )
        )
    kind = "metric" if metrics else "editor" if editors else None
    store = Store(getattr(args, "store", None))
    try:
        rows = history_rows(store, kind, metrics or editors)
        known = sorted({card.subject for _, card in history_rows(store, kind, [])}) if not rows else []
    finally:
        store.close()
    if not rows:
        asked = ", ".join(metrics or editors) or "any metric or editor"
        close = close_names((metrics or editors or [""])[0], known)
        hint = (
            f"; did you mean {', '.join(close)}?" if close
            else f"; it holds cards of {', '.join(known[:8])}{', ...' if len(known) > 8 else ''}" if known
            else ": run an audit with that store first"
        )  # fmt: skip
        print(f"no cards stored for {asked} in {store.root}{hint}")
        return 1
    for line in history_lines(rows):
        print(line)
    return 0

"""The cards' history: every finished run's cards are kept in the store, and --fail-on-drop gates on them.

After results.json is written (a complete run only: an interrupted one's cards count
fewer pairs), each card of results.json's `cards` section is compared with the last card
with a score that the store holds for the same subject on the same chain set
(fingerprint), whatever its version, then stored (store.put_card; the table is documented
in store/schema.py). With --fail-on-drop SHARE, a card whose score fell by more than SHARE
beyond its interval (analysis.cards.dropped) fails the run, one line per card naming it,
the old and new score and their intervals.

Two kinds of card are not stored, so that they never become the reference a later run is
gated against: a card without a score (nothing conclusive ran: a `-k` subset, every cell
errored), which says nothing of robustness; and, with --fail-on-drop, a card that dropped,
so that re-running the failed job (a CI retry) is gated against the last accepted card
again instead of passing against its own failure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from iqa_audit.analysis.cards import Card, card_from_dict, dropped
from iqa_audit.store.store import Store


def last_comparable(store: Store, card: Card) -> Card | None:
    """The card with a score stored last for `card`'s subject on the same chain set, or None."""
    same = [
        c for c in store.cards(card.kind, card.subject) if c.get("fingerprint") == card.fingerprint and c.get("score") is not None
    ]
    return card_from_dict(same[-1]) if same else None


def remember_cards(
    store_root: str | None, section: Mapping[str, Any], fail_on_drop: float | None
) -> tuple[list[str], str | None]:
    """Compare then store the cards of a results.json `cards` section. Returns the drops'
    lines (only with `fail_on_drop`) and a note when nothing could be stored (a read-only
    store), else None."""
    cards = [card_from_dict(d) for d in (*section.get("metrics", ()), *section.get("editors", ()))]
    store = Store(store_root)
    try:
        lines, compared, kept = [], 0, []
        for card in cards:
            old = last_comparable(store, card)
            compared += old is not None
            drop = dropped(old, card, fail_on_drop) if old is not None and fail_on_drop is not None else None
            if drop is not None:
                lines.append(drop.describe() + "; not stored: the last accepted card stays the reference")
            elif card.score is not None:
                kept.append(card)
        if store.read_only:
            return lines, f"the store {store.root} is read-only: this run's cards were not added to its history"
        for card in kept:
            store.put_card(card.to_dict())
        if fail_on_drop is not None and cards and not compared:
            return lines, (
                f"--fail-on-drop {fail_on_drop:g}: no card of an earlier run on this chain set in {store.root}, "
                "so nothing to compare with (a first run, or a CI store that was not restored); this run's cards are stored"
            )
        return lines, None
    finally:
        store.close()


def history_rows(store: Store, kind: str | None, subjects: Sequence[str]) -> list[tuple[float, Card]]:
    """(when stored, card) of `kind` (None: both) for `subjects` (empty: every subject),
    by kind and subject, oldest first."""
    rows = store.cards(kind) if not subjects else [c for s in subjects for c in store.cards(kind, s)]
    rows.sort(key=lambda c: (c["kind"], c["subject"], c["created"]))
    return [(float(c["created"]), card_from_dict(c)) for c in rows]

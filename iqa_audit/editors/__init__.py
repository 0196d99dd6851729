"""Editors: the Editor protocol, the table of editor names, and the built-in editors."""

from iqa_audit.core.errors import EditRefused
from iqa_audit.editors.base import Editor, EditorEntry, EditResult
from iqa_audit.editors.registry import ENTRY_POINT_GROUP, create_editor, editor_entry, editor_names, estimate_cost

__all__ = [
    "ENTRY_POINT_GROUP",
    "EditRefused",
    "EditResult",
    "Editor",
    "EditorEntry",
    "create_editor",
    "editor_entry",
    "editor_names",
    "estimate_cost",
]

"""Editors: the Editor protocol, its registry, and the built-in editors."""

from .base import EditRefused, EditResult, Editor, create_editor, editor_entry, editor_names, register_editor

__all__ = ["EditRefused", "EditResult", "Editor", "create_editor", "editor_entry", "editor_names", "register_editor"]

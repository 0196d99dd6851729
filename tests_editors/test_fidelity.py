"""The editor audit: does each editor keep the picture it was asked to keep?

One case per (editor, task, seed) and check; ids read like the finding, e.g.
`test_aspect_ratio[sim-crop-replicate-grid-perspective]`. Controls: `identity` passes
every check; each failure simulator fails the check it models. Known failures come
from the same baseline mechanism as the metric audit.
"""

from iqa_audit.verdicts import audit_editor


def _check(name):
    def decorate(fn):
        fn.iqa_check = name  # read by the plugin's parametrization
        return fn

    return decorate


@_check("aspect_ratio")
def test_aspect_ratio(editor_cell, audit_engine, record_cell, audit_config):
    audit_editor(editor_cell, audit_engine, record_cell, audit_config)


@_check("object_count")
def test_object_count(editor_cell, audit_engine, record_cell, audit_config):
    audit_editor(editor_cell, audit_engine, record_cell, audit_config)


@_check("colours")
def test_colours(editor_cell, audit_engine, record_cell, audit_config):
    audit_editor(editor_cell, audit_engine, record_cell, audit_config)


@_check("tint")
def test_tint(editor_cell, audit_engine, record_cell, audit_config):
    audit_editor(editor_cell, audit_engine, record_cell, audit_config)


@_check("replication")
def test_replication(editor_cell, audit_engine, record_cell, audit_config):
    audit_editor(editor_cell, audit_engine, record_cell, audit_config)

"""This checkout's entry point to iqa_audit/suite/editors/test_fidelity.py, the module the
package ships: the same tests (not a copy), collected here so their ids read
`tests_editors/test_fidelity.py::...`."""

from iqa_audit.suite.editors.test_fidelity import *  # noqa: F403

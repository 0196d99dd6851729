"""One step of a chain: the editor called on the previous image (make_step), its result
checked (checked_result, step_error) and recorded in the store (record_step).

Both engines use these and only transport between them: the local engine calls them in
one process, the Ray engine calls make_step on a worker and record_step on the driver.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from iqa_audit.core.console import cli_command
from iqa_audit.core.errors import AuditError, EditorStepError, OutcomeUnknown, UnusableReply, explain
from iqa_audit.core.images import Image
from iqa_audit.core.tracebacks import shown_path
from iqa_audit.editors import Editor, EditRefused, EditResult
from iqa_audit.store.rows import jsonable
from iqa_audit.store.store import StepRecord, Store
from iqa_audit.tasks.table import Task

STEP_STATUSES = ("ok", "refused", "failed", "unknown")  # see StepOutcome


@dataclass(frozen=True, eq=False)
class StepOutcome:
    """What one editor call produced, as plain data (it crosses processes and Ray).

    status: 'ok' (data: the image's encoded bytes), 'refused' (the editor answered with no
    image), 'failed' (a paid reply that cannot be used; data: its raw bytes, if any), or
    'unknown' (a request was sent and no reply came: it may have been billed). Every status
    but 'ok' ends the chain, with `reason` saying why."""

    step: int
    status: str
    prompt: str
    seconds: float
    data: bytes | None = None
    width: int | None = None
    height: int | None = None
    reasoning: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None
    image: Image | None = field(default=None, repr=False)  # the decoded 'ok' image, in-process only

    def to_wire(self) -> dict[str, Any]:
        """Plain data (bytes, str, numbers, JSON-able meta) for a Ray worker to send back."""
        return {f: getattr(self, f) for f in self.__dataclass_fields__ if f != "image"}

    @classmethod
    def from_wire(cls, item: Mapping[str, Any]) -> StepOutcome:
        return cls(**{f: item[f] for f in cls.__dataclass_fields__ if f in item and f != "image"})


def make_step(editor: Editor, task: Task, previous: Image, k: int, run: int, *, chain: str = "") -> StepOutcome:
    """Step k: the editor applied to `previous` (the exact stored image of step k-1) with
    the task's prompt for k and the run as the editor seed. A refusal, an unusable paid
    reply and an unknown outcome are outcomes, not errors. Anything else the editor raises,
    and a result that is not an EditResult, raises EditorStepError naming the editor,
    `chain` ("<setting>/<seed>/run <run>") and the step, chained to the editor's own error."""
    prompt = task.prompt(k)
    t0 = time.perf_counter()
    try:
        result = editor.edit(previous, prompt, seed=run, step=k)
    except EditRefused as e:
        return StepOutcome(
            k, "refused", prompt, time.perf_counter() - t0, meta=jsonable({"reason": e.reason, **e.meta}), reason=e.reason
        )
    except UnusableReply as e:
        return StepOutcome(
            k,
            "failed",
            prompt,
            time.perf_counter() - t0,
            data=e.data,
            meta=jsonable({"reason": e.reason, **e.meta}),
            reason=e.reason,
        )
    except OutcomeUnknown as e:
        reason = (
            f"outcome unknown: {e.reason}. The request for step {k} was sent and may have been billed, so it is "
            f"not sent again; pass --resend-unknown to request it once more, or `{cli_command('forget', '--chain', 'KEY', '--from-step', str(k))}`"
        )
        return StepOutcome(
            k, "unknown", prompt, time.perf_counter() - t0, meta=jsonable({"reason": reason, **e.meta}), reason=reason
        )
    except Exception as e:  # the editor's own code failed (a user's editor): say which chain and step
        raise step_error(editor, chain, k, e) from e
    image = checked_result(result, editor, chain, k).image
    return StepOutcome(
        k,
        "ok",
        prompt,
        time.perf_counter() - t0,
        data=image.data(),
        width=image.width,
        height=image.height,
        reasoning=result.reasoning,
        # colour: how the output's samples were converted to sRGB (images.Image.colour), when they were.
        meta=jsonable({**result.meta, **({"colour": image.colour} if getattr(image, "colour", None) else {})}),
        image=image,
    )


# What Editor.edit must return, in the words every wrong-return error uses (and the README).
EDIT_RETURNS = (
    "an iqa_audit.editors.EditResult whose image is an iqa_audit.core.images.Image, e.g. "
    "EditResult(Image.from_array(pixels)) or EditResult(Image.from_pil(pil_image)); reasoning= (the model's "
    "own text) and meta= (a JSON-able dict) are optional"
)


def checked_result(result: Any, editor: Editor, chain: str, k: int) -> EditResult:
    """`result` when it is what Editor.edit must return (EDIT_RETURNS), else EditorStepError
    naming the editor, where its edit() is defined, the chain, the step and what came back."""
    if isinstance(result, EditResult) and isinstance(result.image, Image):
        return result
    if isinstance(result, EditResult):
        got = f"an EditResult whose image is a {type(result.image).__module__}.{type(result.image).__name__}"
    elif result is None:
        got = "None (did edit() forget to return?)"
    else:
        got = f"a {type(result).__module__}.{type(result).__qualname__}"
    where = edit_location(editor)
    raise EditorStepError(
        explain(
            f"editor {editor.id} ({where or type(editor).__qualname__ + '.edit'}), making step {k} of chain {chain}",
            expected=EDIT_RETURNS,
            got=got,
            fix="Return an EditResult from edit(): `from iqa_audit.editors import EditResult` and "
            "`from iqa_audit.core.images import Image`, then `return EditResult(Image.from_array(pixels))`.",
        ),
        editor=editor.id,
        chain=chain,
        step=k,
        user_frame=where,
    )


def step_error(editor: Editor, chain: str, k: int, error: Exception) -> EditorStepError:
    """The EditorStepError for an editor that raised `error` making step k of `chain`: an
    AuditError keeps its own message (it already says what to do) after the chain and step."""

    what = f"editor {editor.id}, making step {k} of chain {chain}"
    if isinstance(error, AuditError):
        message = f"{what}: {error}"
    else:
        message = explain(
            what,
            expected="edit() to return a result, not raise",
            got=f"{type(error).__name__}: {error}",
            fix="It was raised in the editor's own code, at the line the error names (error_where in results.json). Fix it and run "
            f"again: steps 0..{k - 1} are stored and the chain resumes at step {k} (bump the editor's version "
            "if the fix changes its earlier outputs).",
        )
    return EditorStepError(message, editor=editor.id, chain=chain, step=k)


def edit_location(editor: Editor) -> str | None:
    """'file.py:LINE in Class.edit' where the editor's edit() is defined (None if unknown)."""

    fn = getattr(type(editor), "edit", None) or getattr(editor, "edit", None)
    try:
        path = inspect.getsourcefile(fn)
        line = inspect.getsourcelines(fn)[1]
    except (TypeError, OSError):
        return None

    return f"{shown_path(path)}:{line} in {getattr(fn, '__qualname__', 'edit')}" if path else None


def record_step(store: Store, chain_key: str, run: int, outcome: StepOutcome) -> StepRecord:
    """Store one step: its bytes as an object (an unusable paid reply's raw bytes as a
    '.bin' object kept as evidence), then its manifest row. Returns the row as stored."""
    sha = ext = None
    if outcome.data is not None:
        sha, ext = store.put_bytes(outcome.data, None if outcome.status == "ok" else "bin")
    rec = StepRecord(
        chain_key,
        outcome.step,
        outcome.status,
        sha if outcome.status == "ok" else None,
        ext if outcome.status == "ok" else None,
        outcome.width,
        outcome.height,
        outcome.prompt,
        outcome.reasoning,
        jsonable({**outcome.meta, **({"reply_object": f"{sha}.{ext}"} if outcome.status == "failed" and sha else {})}),
        run if outcome.step > 0 else None,
        outcome.seconds,
    )  # step 0 is the seed: no editor seed
    store.add_step(rec)
    return rec

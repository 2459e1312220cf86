"""Prompt and reply grammar for `LlamaCppModel`, kept free of llama.cpp so it tests fast.

Two concerns live here:

* The reply schema. Each reply is one JSON object ``{"thought", "tool", "arguments"}``
  decoded under a grammar made from a JSON schema, with one ``anyOf`` branch per tool so
  that the arguments follow the chosen tool's own schema. Grammar-constrained JSON is what
  makes a 1.5B model reliable at picking valid actions (FACTS: "The embedded local model").
* The chat messages. They are append-only across steps: the system prompt and tool order
  are stable, and a past step is rendered from the exact text the model generated for it,
  so llama.cpp can reuse its KV cache for everything but the newest observation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from nexthop._exceptions import ModelError
from nexthop._sanitize import flatten
from nexthop._toolset import FINISH_TOOL, ToolDef, is_write
from nexthop._trajectory import Step, Trajectory
from nexthop.models._llama_gbnf import avoiding_word
from nexthop.models._llama_schema import required_only, signature, simplify_schema

__all__ = [
    "ANY_OBJECT",
    "EXEMPLAR",
    "THOUGHT_KEY",
    "avoided_opening",
    "build_messages",
    "build_reply_schema",
    "canonical_action",
    "observation_message",
    "opening_thought",
    "parse_reply",
    "reply_opening",
    "required_only",
    "signature",
    "simplify_schema",
    "system_message",
    "system_prompt",
]

THOUGHT_KEY = "remaining_work"
"""The reply's reasoning field. Named for what it must say: asked for a "thought", a 1.5B
model recaps the last observation and then skips ahead (it wrote totals.csv with made-up
numbers before inserting any rows); asked for the work remaining, it keeps its place."""

ANY_OBJECT: dict[str, Any] = {"type": "object"}
"""Arguments schema used when a tool's own schema cannot be turned into a grammar."""


def _result_line(tool: str, content: str, *, failed: bool) -> str:
    """One tool result as the model reads it, in `observation_message` and in `EXEMPLAR` alike."""
    # An empty result said out loud: a small model otherwise reads silence as "try again".
    return f"{'ERROR' if failed else 'Observation'} from {tool}: {content or '(empty)'}"


def _worked_run() -> str:
    def reply(work: str, tool: str, arguments: dict[str, str]) -> str:
        return json.dumps({THOUGHT_KEY: work, "tool": tool, "arguments": arguments})

    lunch = (
        '[{"title": "Lunch with the team at Rosa\'s", "start": "12:30"}, {"title": "Design review", "start": "15:00"}]'
    )
    return "\n".join(
        [
            "An example of a whole run, with tools that are not yours:",
            "Task: Email Dana the start time of Friday's team lunch.",
            reply("Email Dana the start time of Friday's team lunch.", "calendar__get_event", {"title": "team lunch"}),
            _result_line("calendar__get_event", "no event is named 'team lunch'", failed=True),
            reply(
                "Find the lunch among Friday's events, then email Dana its start time.",
                "calendar__list_events",
                {"day": "Friday"},
            ),
            _result_line("calendar__list_events", lunch, failed=False),
            reply(
                "Email Dana that the lunch starts at 12:30.",
                "mail__send",
                {"to": "Dana", "text": "Friday's team lunch at Rosa's starts at 12:30."},
            ),
            _result_line("mail__send", "sent", failed=False),
            reply(
                "Nothing: the email is sent.",
                "finish",
                {"result": "Emailed Dana: Friday's team lunch starts at 12:30."},
            ),
        ]
    )


EXEMPLAR = _worked_run()
"""A worked run shown after the reply format (``local?exemplar=on``), after ReAct's in-context
trajectories (Yao et al., arXiv 2210.03629, section 2). Its tools and task are made up and
share no domain with `benchmarks/tasks/`, so that it teaches the protocol, not a task: the
remaining work shrinks as steps succeed, a "not found" is met by looking at what exists,
values are copied from observations, and finish follows the last call the task needs."""


# Reply tokens cost most of a step's time on a CPU; one sentence of reasoning is enough for
# a small model to say what is left to do, and a cap stops it narrating the whole plan.
_MAX_THOUGHT_CHARS = 300
# Long tool descriptions (the filesystem server's run to a paragraph) crowd a small model's
# prompt; the first sentence or two carry what it needs to choose.
_MAX_DESCRIPTION_CHARS = 160


def build_reply_schema(
    tools: Sequence[ToolDef],
    check: Callable[[dict[str, Any]], object] | None = None,
    *,
    thought: str | None = None,
    avoid: str | None = None,
) -> dict[str, Any]:
    """Build the JSON schema of one reply, with one branch per tool.

    Each branch is ``{"thought": string, "tool": {"const": name}, "arguments": <the tool's
    simplified input schema>}``, all three required, in that order (the grammar keeps
    property order, so the model reasons before it picks the tool).

    Args:
        tools: The tools on offer, in the order shown to the model.
        check: Raises if a branch cannot be turned into a grammar (llama.cpp's
            converter in production). A failing tool gets `ANY_OBJECT` arguments
            instead of breaking the whole reply grammar.
        thought: Fix the thought to this text (``const``): the reply then only picks
            the tool and its arguments, for a thought already written.
        avoid: A free thought must start with a letter or digit, but not with this
            word in any case (`avoiding_word`; see `avoided_opening`). Ignored when
            ``thought`` is given.

    Returns:
        The schema, ``{"anyOf": [...]}`` (or the single branch for one tool; a
        thought-only object, i.e. a plain answer, when no tool is on offer).
    """
    if not tools:
        return {"type": "object", "properties": {THOUGHT_KEY: {"type": "string"}}, "required": [THOUGHT_KEY]}
    text = _thought_schema(thought, avoid)
    branches: list[dict[str, Any]] = []
    for t in tools:
        branch = _branch(t.name, required_only(simplify_schema(t.input_schema)), text)
        if check is not None:
            try:
                check(branch)
            except Exception:  # any converter failure means: fall back, never fail the request
                branch = _branch(t.name, dict(ANY_OBJECT), text)
        branches.append(branch)
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def _thought_schema(thought: str | None, avoid: str | None) -> dict[str, Any]:
    if thought is not None:
        return {"const": thought}
    if avoid:
        return avoiding_word(avoid, _MAX_THOUGHT_CHARS)
    return {"type": "string", "maxLength": _MAX_THOUGHT_CHARS}


def _branch(name: str, arguments: dict[str, Any], thought: dict[str, Any]) -> dict[str, Any]:
    if arguments.get("type", "object") == "object" and "properties" not in arguments:
        arguments = {**arguments, "type": "object"}
    return {
        "type": "object",
        "properties": {
            THOUGHT_KEY: thought,
            "tool": {"const": name},
            "arguments": arguments,
        },
        "required": [THOUGHT_KEY, "tool", "arguments"],
    }


def system_prompt(
    instructions: str, tools: Sequence[ToolDef], *, signatures: bool = False, exemplar: bool = False
) -> str:
    """The system message: instructions, a compact tool list and the reply format.

    With ``signatures``, each tool's arguments are one line in the shape of a function
    signature (`signature`), not its simplified JSON schema with descriptions. With
    ``exemplar``, a worked run over made-up tools follows (`EXEMPLAR`).

    It depends only on its arguments, so it stays byte-identical across steps and the
    KV cache of the whole prefix survives.
    """
    lines = [instructions.strip(), "", "Tools:"]
    for t in tools:
        description = _brief(t.description)
        if signatures:
            lines.append(f"- {t.name}({signature(t.input_schema)}): {description}")
            continue
        args = json.dumps(required_only(simplify_schema(t.input_schema, descriptions=True)), separators=(",", ":"))
        lines.append(f"- {t.name}: {description}\n  arguments: {args}")
    lines += [
        "",
        f'Reply with exactly one JSON object: {{"{THOUGHT_KEY}": "<the parts of the task not done yet>", '
        '"tool": "<tool name>", "arguments": {<arguments for that tool>}}. Call one tool per reply, for the '
        "first part not done yet; the next message will show its result. Use the results already shown: "
        "never repeat a call whose result you have, and never make up data that a tool should produce.",
    ]
    if any(t.name == FINISH_TOOL.name for t in tools):
        lines.append("When the task is done, call finish with the final answer.")
        if exemplar:
            lines += ["", EXEMPLAR]
    return "\n".join(lines)


def _brief(description: str) -> str:
    text = flatten(description)
    if len(text) <= _MAX_DESCRIPTION_CHARS:
        return text
    cut = text[:_MAX_DESCRIPTION_CHARS]
    end = cut.rfind(". ")
    return cut[: end + 1] if end > 40 else cut.rstrip() + "…"


def opening_thought(trajectory: Trajectory) -> str | None:
    """The thought to fix for a run's first reply: the task itself, or None to let the model write one.

    Before the first step the remaining work is, by definition, the whole task, so the
    model need not write it. Left free, the embedded 1.5B model often wrote something
    else there and then acted on it: a tool's description copied from the system prompt
    ("Read the complete contents of the file as text." before saving a new file, then
    four reads of the missing file), "None" or "No more work to do" at step 1. A first
    reply that states the task also shows, in the model's own history, what the field
    holds at later steps.

    Args:
        trajectory: The run so far.

    Returns:
        The task on one line, when the run has no step yet, carries no earlier attempt
        (``memory``: part of the work may be done) and the task fits the thought's
        300-character cap; None otherwise.
    """
    if trajectory.steps or trajectory.memory is not None:
        return None
    task = flatten(trajectory.task)
    return task if 0 < len(task) <= _MAX_THOUGHT_CHARS else None


def reply_opening(thought: str) -> str:
    """The text a reply whose thought is fixed to ``thought`` opens with, up to the comma after it.

    It is what the reply grammar allows with the spacing the model writes (a space after
    the colon only), and the thought encoded as the grammar's ``const`` is (`json.dumps`).
    """
    return "{" + json.dumps(THOUGHT_KEY) + ": " + json.dumps(thought) + ","


def avoided_opening(trajectory: Trajectory, tools: Sequence[ToolDef]) -> str | None:
    """The word the next thought may not open with: the last thought's first, after a write that succeeded.

    The thought is the work remaining (`THOUGHT_KEY`). Once a write has succeeded, part of
    that work is done, so the next thought starts with a new word. Measured at 05be724
    and 1481c36 on `benchmarks/tasks/`: in most failed multi-step runs the 1.5B model
    copied its previous thought verbatim at every step, the task text since the first,
    and redid work it had finished. An instruction did not stop the copy.

    Two earlier forms were measured and dropped (`benchmarks/tasks/results/README.md`):
    forbidding the first three words after any successful step, which the model evaded
    with "Copy only the.ERROR lines ..." (d3e43ad); and this word after any successful
    step, reads included (d081e44), under which the thought swung between two lines
    while the model read the same two files in turn. A read leaves the work as it was.

    Args:
        trajectory: The run so far.
        tools: The tools listed to the model; `is_write` decides on each call's tool.

    Returns:
        The leading letters and digits of the last step's thought (``Copy`` for "Copy
        only the ..."); None when there is no step yet, the last step made no call to a
        write tool, any of its calls failed or was skipped, or its thought does not
        start with a letter or a digit.
    """
    if not trajectory.steps:
        return None
    last = trajectory.steps[-1]
    by_name = {t.name: t for t in tools}
    if not any(c.name in by_name and is_write(by_name[c.name]) for c in last.tool_calls):
        return None
    if not last.observations or any(o.failed for o in last.observations):  # a skip is an error too
        return None
    word = re.match(r"[A-Za-z0-9]+", flatten(last.thought))
    return word.group(0) if word else None


def canonical_action(step: Step) -> str:
    """Render a step's action(s) when no generated text was kept (another model's step)."""
    return "\n".join(
        json.dumps({THOUGHT_KEY: step.thought, "tool": c.name, "arguments": c.arguments}, ensure_ascii=False)
        for c in step.tool_calls
    ) or json.dumps({THOUGHT_KEY: step.thought}, ensure_ascii=False)


def observation_message(step: Step) -> str:
    """The user message that reports a step's observation(s) back to the model."""
    names = {c.id: c.name for c in step.tool_calls}
    parts = [_result_line(names.get(o.call_id, "tool"), o.content, failed=o.failed) for o in step.observations]
    if step.hint:  # a policy's note (e.g. a doom-loop correction) follows the step's results
        parts.append(f"Note from the host: {step.hint}")
    return "\n\n".join(parts)


def system_message(
    instructions: str, tools: Sequence[ToolDef], *, signatures: bool = False, exemplar: bool = False
) -> dict[str, str]:
    """The first chat message: the stable prefix that `LlamaCppModel` caches on disk."""
    return {"role": "system", "content": system_prompt(instructions, tools, signatures=signatures, exemplar=exemplar)}


def build_messages(
    instructions: str,
    tools: Sequence[ToolDef],
    trajectory: Trajectory,
    generated: Mapping[str, str],
    *,
    signatures: bool = False,
    exemplar: bool = False,
) -> list[dict[str, str]]:
    """Chat messages for the next request: system, task, then each past step.

    Args:
        instructions: The host's system prompt.
        tools: The tools on offer, in a stable order.
        trajectory: The run so far.
        generated: Exact generated reply text by the id of the step's first tool call;
            steps found here are rendered byte-identically to what the model produced.
        signatures: List each tool's arguments as a signature (`system_prompt`).
        exemplar: Show a worked run in the system message (`system_prompt`).

    Returns:
        ``[{"role": ..., "content": ...}, ...]`` ready for the GGUF's chat template.
    """
    messages = [
        system_message(instructions, tools, signatures=signatures, exemplar=exemplar),
        {"role": "user", "content": trajectory.task_message()},
    ]
    for step in trajectory.steps:
        first = step.tool_calls[0].id if step.tool_calls else None
        text = generated.get(first) if first is not None else None
        messages.append({"role": "assistant", "content": text if text is not None else canonical_action(step)})
        if step.observations or step.hint:
            messages.append({"role": "user", "content": observation_message(step)})
    return messages


def parse_reply(text: str, tools: Sequence[ToolDef], *, who: str) -> tuple[str, tuple[str, dict[str, Any]] | None]:
    """Read one reply made under `build_reply_schema`'s schema.

    Args:
        text: The reply text, one JSON object.
        tools: The tools that were on offer.
        who: Names the model in errors, e.g. ``local model``.

    Returns:
        ``(thought, (tool name, arguments))``, or ``(thought, None)`` when no tool was
        on offer (a plain answer).

    Raises:
        ModelError: The text is not JSON, or names no tool on offer, or its arguments
            are not an object (possible only where no grammar held the reply to the schema).
    """
    try:
        # Not strict: llama.cpp's JSON grammar lets raw control characters (a tab in file
        # content) into strings, and refusing them would throw away a well-formed action.
        reply = json.loads(text, strict=False)
    except json.JSONDecodeError as e:
        raise ModelError(f"{who} reply is not JSON ({e.msg}): {text[:200]!r}") from e
    if not isinstance(reply, dict):
        raise ModelError(f"{who} reply is not a JSON object: {text[:200]!r}")
    reply = cast("dict[str, Any]", reply)
    thought = str(reply.get(THOUGHT_KEY, ""))
    if not tools:
        return thought, None
    name, arguments = reply.get("tool"), reply.get("arguments")
    if name not in {t.name for t in tools} or not isinstance(arguments, dict):
        raise ModelError(f"{who} reply names no tool on offer: {text[:200]!r}")
    # JSON object keys are always strings.
    return thought, (cast("str", name), cast("dict[str, Any]", arguments))

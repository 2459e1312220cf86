"""Conversion between nexthop's values and the OpenAI Chat Completions wire format.

Kept apart from `nexthop.models._openai` so the shape of the conversation can be
tested and read without the HTTP client. The same format serves OpenAI-compatible
servers (Ollama, vLLM, llama.cpp server, LM Studio).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any, Literal, cast

from openai.types.chat import (
    ChatCompletion,
    ChatCompletionAssistantMessageParam,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageParam,
)

from nexthop._toolset import ToolDef
from nexthop._trajectory import Step, ToolCall, Trajectory, Usage
from nexthop.models._model import ModelResponse

__all__ = [
    "MISSING_RESULT",
    "ToolResults",
    "completion_to_response",
    "parse_arguments",
    "tools_to_openai",
    "trajectory_to_messages",
]

MISSING_RESULT = "no result: the call was not run"
"""Content sent for a tool call that has no observation (every call needs a tool message)."""


def tools_to_openai(tools: Sequence[ToolDef]) -> list[ChatCompletionFunctionToolParam]:
    """Convert tool definitions to the ``tools`` parameter of ``chat.completions.create``.

    Args:
        tools: The tools on offer.

    Returns:
        One ``{"type": "function", "function": {name, description, parameters}}`` per tool.
    """
    return [
        {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.input_schema}}
        for t in tools
    ]


ToolResults = Literal["tool", "user"]
"""How tool results travel back: ``tool`` messages (the API's way), or one ``user`` message per step."""


def trajectory_to_messages(
    instructions: str, trajectory: Trajectory, tool_results: ToolResults = "tool"
) -> list[ChatCompletionMessageParam]:
    """Convert the instructions and a trajectory to Chat Completions ``messages``.

    The instructions are the system message and the task the first user message. Each
    step becomes an assistant message (``content`` is the thought or ``""``, never null,
    and ``tool_calls`` carry JSON-encoded arguments) followed by its results; failed
    observations are prefixed with ``ERROR: `` because the format has no error flag.

    Args:
        instructions: The system prompt; no system message is sent when empty.
        trajectory: The run so far.
        tool_results: ``tool`` sends one ``tool`` message per call, paired by
            ``tool_call_id`` (the API's format). ``user`` sends one user message per
            step that names each call, for servers whose chat template renders no
            ``tool`` messages (llama-cpp-python's ``chatml-function-calling``; see
            docs/models.md).

    Returns:
        The messages in order.
    """
    messages: list[ChatCompletionMessageParam] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    messages.append({"role": "user", "content": trajectory.task_message()})
    for step in trajectory.steps:
        messages.extend(_step_to_messages(step, tool_results))
    return messages


def _step_to_messages(step: Step, tool_results: ToolResults) -> list[ChatCompletionMessageParam]:
    messages: list[ChatCompletionMessageParam] = []
    # An empty reply sends no assistant turn (chat templates render it as a bare header),
    # but its hint still goes: it is the nudge that tells the model to call a tool.
    if step.thought or step.tool_calls:
        messages.append(_assistant(step))
    results = [(c, _result_text(step, c)) for c in step.tool_calls]
    if tool_results == "tool":
        messages.extend({"role": "tool", "tool_call_id": c.id, "content": text} for c, text in results)
    elif results:
        report = "\n\n".join(f"Result of {c.name} (call {c.id}):\n{text}" for c, text in results)
        messages.append({"role": "user", "content": report})
    if step.hint:  # a policy's note (e.g. a doom-loop correction) follows the step's results
        messages.append({"role": "user", "content": f"Note from the host: {step.hint}"})
    return messages


def _assistant(step: Step) -> ChatCompletionAssistantMessageParam:
    # Never "content": null: llama-cpp-python's server rejects it (HTTP 500, its schema
    # wants a string), and leaving the key out breaks its chatml-function-calling
    # template (strict Jinja undefined). "" is accepted everywhere, OpenAI included.
    assistant: ChatCompletionAssistantMessageParam = {"role": "assistant", "content": step.thought}
    # An empty tool_calls list is rejected by the API, so the key is left out instead.
    if step.tool_calls:
        assistant["tool_calls"] = [
            # Arguments are always re-encoded as valid JSON (an invalid reply was kept as {},
            # its text in ToolCall.invalid_arguments), since compatible servers parse them back.
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
            for c in step.tool_calls
        ]
    return assistant


def _result_text(step: Step, call: ToolCall) -> str:
    obs = next((o for o in step.observations if o.call_id == call.id), None)
    if obs is None:
        return f"ERROR: {MISSING_RESULT}"
    return f"ERROR: {obs.content}" if obs.failed else obs.content


def parse_arguments(raw: str | None) -> tuple[dict[str, Any], str | None]:
    """Decode a tool call's ``arguments`` string without ever raising.

    The call is kept rather than dropped when the text does not decode, so the host
    answers it with an error observation the model can correct.

    Args:
        raw: The JSON text the model produced (may be empty, None or malformed).

    Returns:
        The decoded object and None; ``{}`` and None for empty text; ``{}`` and ``raw``
        (for `ToolCall.invalid_arguments`) when the text is not a JSON object.
    """
    if raw is None or not raw.strip():
        return {}, None
    try:
        value = json.loads(raw)
    except ValueError:
        return {}, raw
    if not isinstance(value, dict):
        return {}, raw
    return {str(k): v for k, v in cast(dict[Any, Any], value).items()}, None


def completion_to_response(completion: ChatCompletion) -> ModelResponse | None:
    """Read the model's next action from a Chat Completions reply.

    ``message.content`` (or, failing that, ``message.refusal``) is the thought; each
    function tool call becomes a `ToolCall`. A call without an id (some compatible
    servers omit it) gets a generated one so that it can be paired with its result.

    Args:
        completion: The SDK's parsed reply.

    Returns:
        The action with its usage, or None when the reply has no choices.
    """
    if not completion.choices:
        return None
    message = completion.choices[0].message
    calls = tuple(
        ToolCall(
            id=tc.id or f"call_{uuid.uuid4().hex[:24]}",
            name=tc.function.name,
            arguments=arguments,
            invalid_arguments=invalid,
        )
        for tc in message.tool_calls or ()
        if tc.type == "function"
        for arguments, invalid in (parse_arguments(tc.function.arguments),)
    )
    usage = Usage(requests=1)
    if completion.usage is not None:
        details = completion.usage.prompt_tokens_details
        usage = Usage(
            input_tokens=completion.usage.prompt_tokens,
            output_tokens=completion.usage.completion_tokens,
            cached_input_tokens=(details.cached_tokens or 0) if details is not None else 0,
            requests=1,
        )
    return ModelResponse(thought=message.content or message.refusal or "", tool_calls=calls, usage=usage)

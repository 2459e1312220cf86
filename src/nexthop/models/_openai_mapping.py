"""Conversion between nexthop's values and the OpenAI Chat Completions wire format.

Kept apart from `nexthop.models._openai` so the shape of the conversation can be
tested and read without the HTTP client. The same format serves OpenAI-compatible
servers (Ollama, vLLM, llama.cpp server, LM Studio).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any, cast

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
    "INVALID_JSON_KEY",
    "MISSING_RESULT",
    "completion_to_response",
    "parse_arguments",
    "tools_to_openai",
    "trajectory_to_messages",
]

INVALID_JSON_KEY = "__invalid_json__"
"""Argument key that carries a tool call's raw arguments when they are not a JSON object.

The call is kept rather than dropped, so the host validates it against the tool's
schema, fails, and shows the model an error observation it can correct.
"""

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


def trajectory_to_messages(instructions: str, trajectory: Trajectory) -> list[ChatCompletionMessageParam]:
    """Convert the instructions and a trajectory to Chat Completions ``messages``.

    The instructions are the system message and the task the first user message. Each
    step becomes an assistant message (``content`` is the thought or None, ``tool_calls``
    carry JSON-encoded arguments) followed by one ``tool`` message per call, paired by
    ``tool_call_id``; failed observations are prefixed with ``ERROR: `` because the
    format has no error flag.

    Args:
        instructions: The system prompt; no system message is sent when empty.
        trajectory: The run so far.

    Returns:
        The messages in order.
    """
    messages: list[ChatCompletionMessageParam] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    messages.append({"role": "user", "content": trajectory.task_message()})
    for step in trajectory.steps:
        messages.extend(_step_to_messages(step))
    return messages


def _step_to_messages(step: Step) -> list[ChatCompletionMessageParam]:
    if not step.thought and not step.tool_calls:
        return []
    assistant: ChatCompletionAssistantMessageParam = {"role": "assistant", "content": step.thought or None}
    # An empty tool_calls list is rejected by the API, so the key is left out instead.
    if step.tool_calls:
        assistant["tool_calls"] = [
            # Arguments are always re-encoded as valid JSON (an invalid reply travels as
            # {"__invalid_json__": raw}), since compatible servers parse them back.
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
            for c in step.tool_calls
        ]
    messages: list[ChatCompletionMessageParam] = [assistant]
    by_id = {o.call_id: o for o in step.observations}
    for c in step.tool_calls:
        obs = by_id.get(c.id)
        if obs is None:
            content = f"ERROR: {MISSING_RESULT}"
        else:
            content = f"ERROR: {obs.content}" if obs.is_error else obs.content
        messages.append({"role": "tool", "tool_call_id": c.id, "content": content})
    if step.hint:  # a policy's note (e.g. a doom-loop correction) follows the step's results
        messages.append({"role": "user", "content": f"Note from the host: {step.hint}"})
    return messages


def parse_arguments(raw: str | None) -> dict[str, Any]:
    """Decode a tool call's ``arguments`` string without ever raising.

    Args:
        raw: The JSON text the model produced (may be empty, None or malformed).

    Returns:
        The decoded object; ``{}`` for empty text; ``{"__invalid_json__": raw}`` when
        the text is not valid JSON or not a JSON object (see `INVALID_JSON_KEY`).
    """
    if raw is None or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {INVALID_JSON_KEY: raw}
    if not isinstance(value, dict):
        return {INVALID_JSON_KEY: raw}
    return {str(k): v for k, v in cast(dict[Any, Any], value).items()}


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
            arguments=parse_arguments(tc.function.arguments),
        )
        for tc in message.tool_calls or ()
        if tc.type == "function"
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

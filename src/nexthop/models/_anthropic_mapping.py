"""Conversion between nexthop's values and the Anthropic Messages API wire format.

Kept apart from `nexthop.models._anthropic` so the shape of the conversation can be
tested and read without the HTTP client. Plain dicts are produced (what the SDK
sends as JSON); replies are read from the SDK's typed ``Message``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from anthropic.types import (
    Message,
    MessageParam,
    TextBlockParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
)

from nexthop._toolset import ToolDef
from nexthop._trajectory import Step, ToolCall, Trajectory, Usage
from nexthop.models._model import ModelResponse

__all__ = ["MISSING_RESULT", "message_to_response", "tools_to_anthropic", "trajectory_to_messages"]

MISSING_RESULT = "no result: the call was not run"
"""Content sent for a tool call that has no observation (the API rejects an unanswered ``tool_use``)."""


def tools_to_anthropic(tools: Sequence[ToolDef]) -> list[ToolParam]:
    """Convert tool definitions to the ``tools`` parameter of ``messages.create``.

    Args:
        tools: The tools on offer.

    Returns:
        One ``{"name", "description", "input_schema"}`` dict per tool, in order.
    """
    return [{"name": t.name, "description": t.description, "input_schema": t.input_schema} for t in tools]


def trajectory_to_messages(trajectory: Trajectory) -> list[MessageParam]:
    """Convert a trajectory to the ``messages`` parameter of ``messages.create``.

    The task is the first user message. Each step becomes an assistant message (its
    thought as a text block, then one ``tool_use`` block per call) followed by a user
    message holding one ``tool_result`` block per call, paired by id.

    Args:
        trajectory: The run so far.

    Returns:
        Messages alternating user and assistant, starting with the task.
    """
    messages: list[MessageParam] = [{"role": "user", "content": trajectory.task_message()}]
    for step in trajectory.steps:
        messages.extend(_step_to_messages(step))
    return messages


def _step_to_messages(step: Step) -> list[MessageParam]:
    content: list[TextBlockParam | ToolUseBlockParam] = []
    # The API rejects text blocks that are empty or only whitespace.
    if step.thought.strip():
        content.append({"type": "text", "text": step.thought})
    content.extend({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in step.tool_calls)
    if not content:
        return []
    messages: list[MessageParam] = [{"role": "assistant", "content": content}]
    if step.tool_calls:
        by_id = {o.call_id: o for o in step.observations}
        results: list[ToolResultBlockParam] = []
        for c in step.tool_calls:
            obs = by_id.get(c.id)
            # Every tool_use must be answered in the next message, or the request is refused.
            results.append(
                {"type": "tool_result", "tool_use_id": c.id, "content": obs.content, "is_error": obs.failed}
                if obs is not None
                else {"type": "tool_result", "tool_use_id": c.id, "content": MISSING_RESULT, "is_error": True}
            )
        user: list[ToolResultBlockParam | TextBlockParam] = [*results]
        if step.hint:  # a policy's note (e.g. a doom-loop correction) follows the step's results
            user.append({"type": "text", "text": f"Note from the host: {step.hint}"})
        messages.append({"role": "user", "content": user})
    return messages


def message_to_response(message: Message) -> ModelResponse:
    """Read the model's next action from a Messages API reply.

    Text blocks are joined into the thought; ``tool_use`` blocks become tool calls.
    Other blocks (thinking, server tools) are ignored.

    Args:
        message: The SDK's parsed reply.

    Returns:
        The action with its usage (``cache_read_input_tokens`` counts as cached input).
    """
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in message.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "tool_use":
            arguments, invalid = _arguments(block.input)
            calls.append(ToolCall(id=block.id, name=block.name, arguments=arguments, invalid_arguments=invalid))
    u = message.usage
    usage = Usage(
        input_tokens=u.input_tokens,
        output_tokens=u.output_tokens,
        cached_input_tokens=u.cache_read_input_tokens or 0,
        requests=1,
    )
    return ModelResponse(thought="\n".join(texts), tool_calls=tuple(calls), usage=usage)


def _arguments(value: object) -> tuple[dict[str, Any], str | None]:
    # The SDK does not validate replies strictly; a non-object input must not crash the
    # run, so its JSON goes to ToolCall.invalid_arguments, as the OpenAI adapter does.
    if isinstance(value, dict):
        return {str(k): v for k, v in cast(dict[Any, Any], value).items()}, None
    return {}, json.dumps(value, default=str)

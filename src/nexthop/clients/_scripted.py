"""A deterministic model that replays given actions, for tests of the host's machinery.

It is public so users can test their own server set-ups without a real model. It
measures nothing about what a model could achieve.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

from nexthop._exceptions import ModelError
from nexthop._trajectory import ToolCall, Usage
from nexthop.clients._model import Model, ModelRequest, ModelResponse

__all__ = ["ScriptedModel", "call", "finish", "reply"]

ScriptItem = ModelResponse | Callable[[ModelRequest], ModelResponse]
_ids = itertools.count(1)


def call(name: str, thought: str = "", /, **arguments: Any) -> ModelResponse:
    """A response that calls one tool.

    Args:
        name: The tool's namespaced name, e.g. ``fs__read_text_file``.
        thought: Optional reasoning text recorded with the step.
        **arguments: The tool's arguments.
    """
    return ModelResponse(thought=thought, tool_calls=(ToolCall(id=f"s{next(_ids)}", name=name, arguments=arguments),))


def finish(result: str, thought: str = "") -> ModelResponse:
    """A response that calls the injected ``finish`` tool with ``result``."""
    return call("finish", thought, result=result)


def reply(text: str) -> ModelResponse:
    """A plain reply with no tool call, which also ends the run."""
    return ModelResponse(thought=text)


class ScriptedModel(Model):
    """Replays a script of responses, one per step.

    Args:
        script: Responses in order; an item may also be a function of the
            `ModelRequest` (to react to observations). Any iterable works, so
            ``itertools.repeat(call(...))`` scripts an endless run.
        name: Name shown in results.

    Raises:
        ModelError: From `request`, when the script runs out.
    """

    def __init__(self, script: Iterable[ScriptItem], *, name: str = "scripted") -> None:
        self._script = iter(script)
        self.name = name
        self.requests: int = 0

    async def request(self, request: ModelRequest) -> ModelResponse:
        self.requests += 1
        item = next(self._script, None)
        if item is None:
            raise ModelError(f"scripted model ran out of actions at request {self.requests}; add more to its script")
        response = item(request) if callable(item) else item
        # Fresh ids each time, so a repeated item still pairs calls with observations uniquely.
        calls = tuple(c.model_copy(update={"id": f"s{next(_ids)}"}) for c in response.tool_calls)
        return ModelResponse(thought=response.thought, tool_calls=calls, usage=Usage(requests=1))

"""A deterministic model that replays given actions, for tests of the host's machinery.

It is public so users can test their own server set-ups without a real model. It
measures nothing about what a model could achieve.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from nexthop._exceptions import ConfigError, ModelError
from nexthop._toolset import FINISH_TOOL
from nexthop._trajectory import ToolCall, Usage
from nexthop.models._model import Model, ModelRequest, ModelResponse

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


def finish(result: str, thought: str = "", outcome: Literal["done", "failed"] = "done") -> ModelResponse:
    """A response that calls the injected ``finish`` tool with ``result`` and ``outcome``.

    ``outcome="failed"`` reports the task not done: the run ends ``gave_up``.
    """
    return call(FINISH_TOOL.name, thought, result=result, outcome=outcome)


def reply(text: str) -> ModelResponse:
    """A plain reply with no tool call: it ends the run, after a nudge by default (``PolicyConfig.text_replies``)."""
    return ModelResponse(thought=text)


class ScriptedModel(Model):
    """Replays a script of responses, one per step.

    Args:
        script: Responses in order; an item may also be a function of the
            `ModelRequest` (to react to observations). Any iterable works, so
            ``itertools.repeat(call(...))`` scripts an endless run (doom-loop detection
            will stop it unless ``PolicyConfig(doom_loop_n=0)``).
        name: Name shown in results.

    Raises:
        ModelError: From `request`, when the script runs out.
    """

    def __init__(self, script: Iterable[ScriptItem], *, name: str = "scripted", by_step: bool = False) -> None:
        self._items = list(script) if by_step else None
        self._script = iter(script) if not by_step else iter(())
        self.name = name
        self.requests: int = 0

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedModel:
        """Load a script from JSON, for the CLI's ``--model scripted:<file.json>``.

        The file is a list of actions, ``{"tool": NAME, "arguments": {...}, "thought": "..."}``
        or ``{"reply": TEXT}``, each with an optional ``"usage": {"input_tokens": N, "output_tokens": M}``.
        Action *i* answers step *i* of every run, so concurrent runs (``nexthop serve``)
        each replay the whole script.

        Raises:
            ConfigError: The file is missing or not such a list.
        """
        try:
            raw = json.loads(Path(path).read_text())
            items = [
                reply(a["reply"]) if "reply" in a else call(a["tool"], a.get("thought", ""), **a.get("arguments", {}))
                for a in raw
            ]
            # A stated cost ({"input_tokens": N, "output_tokens": M}), as a script in Python may state one.
            items = [
                i.model_copy(update={"usage": Usage(**a["usage"])}) if "usage" in a else i
                for i, a in zip(items, raw, strict=True)
            ]
        except (OSError, ValueError, TypeError, KeyError) as e:
            raise ConfigError(
                f"scripted model file {path}: {e}; it must be a JSON list of "
                '{"tool": NAME, "arguments": {...}} or {"reply": TEXT}'
            ) from e
        return cls(items, name=f"scripted:{path}", by_step=True)

    async def request(self, request: ModelRequest) -> ModelResponse:
        self.requests += 1
        if self._items is not None:
            index = len(request.trajectory.steps)
            item = self._items[index] if index < len(self._items) else None
        else:
            item = next(self._script, None)
        if item is None:
            raise ModelError(f"scripted model ran out of actions at request {self.requests}; add more to its script")
        response = item(request) if callable(item) else item
        # Fresh ids each time, so a repeated item still pairs calls with observations uniquely.
        calls = tuple(c.model_copy(update={"id": f"s{next(_ids)}"}) for c in response.tool_calls)
        # A script may state what a step cost (to test token budgets); it is one request either way.
        usage = response.usage.model_copy(update={"requests": 1})
        return ModelResponse(thought=response.thought, tool_calls=calls, usage=usage)

"""Redraws: a call whose outcome a policy foresees is drawn again before it spends a step."""

from __future__ import annotations

from typing import Any

import pytest

from nexthop import AgentHost, ScriptedModel, tool
from nexthop._trajectory import ToolCall
from nexthop.models import call, finish
from nexthop.models._model import ModelRequest, ModelResponse, Usage
from nexthop.policies import PolicyConfig
from nexthop.policies._base import RunPolicy, RunView

pytestmark = pytest.mark.anyio

RAN: list[str] = []


@tool
def read(path: str) -> str:
    """Read a file."""
    RAN.append(path)
    if path != "notes.txt":
        raise FileNotFoundError(f"no such file: {path}")
    return "the notes"


def settings_seen(seen: list[ModelRequest]) -> Any:
    """A script item that notes each request before answering it."""

    def answer(response: ModelResponse) -> Any:
        def item(request: ModelRequest) -> ModelResponse:
            seen.append(request)
            return response.model_copy(update={"usage": Usage(input_tokens=10, output_tokens=2)})

        return item

    return answer


async def test_a_known_failure_is_drawn_again_at_a_temperature_and_the_new_call_runs() -> None:
    RAN.clear()
    seen: list[ModelRequest] = []
    at = settings_seen(seen)
    model = ScriptedModel(
        [
            at(call("read", path="note.txt")),
            at(call("read", path="note.txt")),  # the known failure: drawn again
            at(call("read", path="notes.txt")),
            at(finish("the notes")),
        ]
    )
    async with AgentHost(model=model, tools=[read], policy=PolicyConfig(redraws=2)) as host:
        result = await host.run("read my notes")
    assert result.termination.kind == "completed"
    assert RAN == ["note.txt", "notes.txt"]  # the repeat never ran, and no step was spent on it
    assert len(result.steps) == 3
    redraws = [r for r in result.steps[1].records if r.event == "redraw"]
    assert [(r.policy, r.data["tool"], r.data["draw"]) for r in redraws] == [("known_failures", "read", 1)]
    assert "already failed at step 1" in redraws[0].data["reason"]
    # The first draw is the run's own settings; the redraw samples, with a seed of its own.
    assert (seen[1].settings.temperature, seen[1].settings.seed) == (None, None)
    assert (seen[2].settings.temperature, seen[2].settings.seed) == (1.0, 2001)
    # Both draws were paid for: the step's usage counts them.
    assert (result.steps[1].usage.input_tokens, result.steps[1].usage.requests) == (20, 2)


async def test_when_every_draw_is_foreseen_the_first_stands_and_is_skipped_as_before() -> None:
    RAN.clear()
    model = ScriptedModel(
        [call("read", path="note.txt"), call("read", "first", path="note.txt")]
        + [call("read", "again", path="note.txt")] * 2
        + [finish("not found", outcome="failed")]
    )
    async with AgentHost(model=model, tools=[read], policy=PolicyConfig(redraws=2)) as host:
        result = await host.run("read my notes")
    assert RAN == ["note.txt"]
    second = result.steps[1]
    assert second.thought == "first"  # the model's own first choice, not the last sample
    assert second.observations[0].skipped
    assert [r.data["draw"] for r in second.records if r.event == "redraw"] == [1, 2]
    assert model.requests == 5


@tool
def write_note(text: str) -> str:
    """Write the note."""
    RAN.append(text)
    return "written"


async def test_a_repeated_write_is_skipped_not_drawn_again() -> None:
    # Its repeat says the work may be done; a sample there tends to make another write.
    RAN.clear()
    model = ScriptedModel([call("write_note", text="hi"), call("write_note", text="hi"), finish("done")])
    async with AgentHost(model=model, tools=[write_note], policy=PolicyConfig(redraws=3)) as host:
        result = await host.run("write hi")
    assert RAN == ["hi"] and result.steps[1].observations[0].skipped
    assert not [r for s in result.steps for r in s.records if r.event == "redraw"]
    assert model.requests == 3


async def test_no_redraws_by_default() -> None:
    RAN.clear()
    model = ScriptedModel(
        [call("read", path="note.txt"), call("read", path="note.txt"), finish("no", outcome="failed")]
    )
    async with AgentHost(model=model, tools=[read]) as host:
        result = await host.run("read my notes")
    assert result.steps[1].observations[0].skipped
    assert not [r for s in result.steps for r in s.records if r.event == "redraw"]
    assert model.requests == 3


async def test_finish_is_never_foreseen() -> None:
    class ForeseesEverything(RunPolicy):
        name = "oracle"

        def foresee(self, view: RunView, call: ToolCall) -> str | None:
            return "known"

    model = ScriptedModel([finish("done")])
    async with AgentHost(
        model=model, tools=[read], policies=[ForeseesEverything()], policy=PolicyConfig(redraws=3)
    ) as host:
        result = await host.run("say done")
    assert (result.termination.kind, model.requests) == ("completed", 1)


def test_redraws_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match="redraws"):
        PolicyConfig(redraws=-1)

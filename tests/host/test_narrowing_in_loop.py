"""Tool narrowing in a real run: which tools the model is offered, and what the step records."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from nexthop import AgentHost, ModelRequest, ModelResponse, ScriptedModel
from nexthop._toolset import ToolDef
from nexthop.host import FunctionTool
from nexthop.models import call, finish
from nexthop.policies import PolicyConfig

pytestmark = pytest.mark.anyio

CATALOGUE = {
    "convert_temperature": "Convert a temperature between Celsius and Fahrenheit.",
    "convert_currency": "Convert an amount of money from one currency to another.",
    "send_email": "Send an email message to a recipient.",
    "read_inbox": "List the newest email messages in the inbox.",
    "weather_forecast": "Get the weather forecast for a city.",
    "create_calendar_event": "Create an event in the calendar.",
    "list_calendar_events": "List the calendar events of a day.",
    "search_web": "Search the web and return the top results.",
    "fetch_url": "Fetch a web page and return its text.",
    "translate_text": "Translate text into another language.",
    "summarize_text": "Summarize a long text in a few sentences.",
    "count_words": "Count the words in a text.",
    "spell_check": "Check the spelling of a text and suggest fixes.",
    "create_ticket": "Open a support ticket in the issue tracker.",
    "close_ticket": "Close a support ticket.",
    "list_tickets": "List the open support tickets.",
    "add_contact": "Add a person to the address book.",
    "find_contact": "Find a person in the address book by name.",
    "play_music": "Play a song or a playlist.",
    "set_timer": "Start a countdown timer.",
    "stock_price": "Get the latest price of a stock.",
    "compress_image": "Compress an image file to a smaller size.",
    "resize_image": "Resize an image to a given width and height.",
    "generate_password": "Generate a random password.",
    "hash_text": "Compute the SHA-256 hash of a text.",
    "roll_dice": "Roll dice and return the numbers.",
    "book_flight": "Book a flight between two airports.",
    "track_parcel": "Track a parcel by its tracking number.",
    "order_pizza": "Order a pizza for delivery.",
    "define_word": "Look up the dictionary definition of a word.",
}


def toolbox() -> list[FunctionTool]:
    def make(name: str) -> Callable[..., str]:
        def run(value: str = "") -> str:
            return f"{name} done {value}".strip()

        return run

    return [FunctionTool(make(n), name=n, description=d) for n, d in CATALOGUE.items()]


def answers(script: list[ModelResponse], offered: list[list[str]]) -> list[Callable[[ModelRequest], ModelResponse]]:
    """Scripted answers that keep the names of the tools each request offered."""

    def answer(response: ModelResponse) -> Callable[[ModelRequest], ModelResponse]:
        def record(request: ModelRequest) -> ModelResponse:
            offered.append([t.name for t in request.tools])
            return response

        return record

    return [answer(r) for r in script]


def recording(script: list[ModelResponse], offered: list[list[str]]) -> ScriptedModel:
    """A scripted model that keeps the names of the tools each request offered."""
    return ScriptedModel(answers(script, offered))


async def test_thirty_tools_are_narrowed_recorded_and_a_called_tool_stays() -> None:
    offered: list[list[str]] = []
    script = [
        call("convert_temperature", "Convert first.", value="100 C"),
        call("send_email", "Then I should track the parcel by its tracking number.", value="bob"),
        finish("sent"),
    ]
    model = recording(script, offered)
    async with AgentHost(model=model, tools=toolbox()) as host:
        result = await host.run("Convert 100 Celsius to Fahrenheit and send the temperature to Bob by email")

    assert result.status == "completed"
    first, second, third = offered
    assert first[-1] == "finish" and len(first) <= 8 + 1
    assert {"convert_temperature", "send_email"} <= set(first)
    assert first[:-1] == [n for n in CATALOGUE if n in first], "the listing order is kept"
    # Only what was offered ran: the calls succeeded.
    assert [s.observations[0].is_error for s in result.steps[:2]] == [False, False]
    (record,) = [r for r in result.steps[0].records if r.policy == "narrowing"]
    assert record.event == "offered"
    assert (record.data["offered"], record.data["of"]) == (len(first) - 1, 30)
    # The offer only grows: the called tools stay, and step 2's thought brought in the parcel tracker.
    assert set(first) <= set(second) <= set(third)
    assert "track_parcel" in third and "track_parcel" not in first
    (added,) = [r.data["added"] for r in result.steps[2].records if r.policy == "narrowing"]
    assert "track_parcel" in added


async def test_a_task_that_matches_no_tool_is_offered_the_first_ones_not_nothing() -> None:
    offered: list[list[str]] = []
    async with AgentHost(model=recording([finish("ok")], offered), tools=toolbox()) as host:
        await host.run("xyzzy")
    assert offered == [[*list(CATALOGUE)[:8], "finish"]]


async def test_narrowing_off_offers_every_tool() -> None:
    offered: list[list[str]] = []
    policy = PolicyConfig(narrow_tools_over=None)
    async with AgentHost(model=recording([finish("ok")], offered), tools=toolbox(), policy=policy) as host:
        result = await host.run("Convert 100 Celsius to Fahrenheit")
    assert offered == [[*CATALOGUE, "finish"]]
    assert not any(r.policy == "narrowing" for r in result.steps[0].records)


async def test_the_threshold_and_top_k_come_from_the_settings() -> None:
    offered: list[list[str]] = []
    policy = PolicyConfig(narrow_tools_over=40)
    async with AgentHost(model=recording([finish("ok")], offered), tools=toolbox(), policy=policy) as host:
        await host.run("Convert 100 Celsius to Fahrenheit")
    assert len(offered[0]) == 31, "30 tools are under a threshold of 40"

    offered.clear()
    policy = PolicyConfig(narrow_tools_over=5, narrow_top_k=8)  # top_k is capped at the threshold
    async with AgentHost(model=recording([finish("ok")], offered), tools=toolbox(), policy=policy) as host:
        await host.run("Convert 100 Celsius to Fahrenheit")
    assert len(offered[0]) == 5 + 1 and "convert_temperature" in offered[0]


class Windowed(ScriptedModel):
    """A scripted model that says what share of its window a tool list takes: 2% a tool."""

    def __init__(self, script: list[ModelResponse], offered: list[list[str]], shares: list[int]) -> None:
        super().__init__(answers(script, offered))
        self.shares = shares

    def tool_list_share(self, tools: Sequence[ToolDef]) -> float | None:
        self.shares.append(len(tools))
        return 0.02 * len(tools)


async def test_with_a_share_a_model_whose_window_holds_the_list_gets_every_tool_past_the_count() -> None:
    offered: list[list[str]] = []
    shares: list[int] = []
    # 30 tools and finish: 62% of the window. By default (no share) the count alone decides;
    # at 70% every tool stays.
    for limit, expected in ((None, 9), (0.6, 9), (0.7, 31)):
        offered.clear()
        policy = PolicyConfig() if limit is None else PolicyConfig(narrow_tools_share=limit)
        model = Windowed([finish("ok")], offered, shares)
        async with AgentHost(model=model, tools=toolbox(), policy=policy) as host:
            await host.run("Convert 100 Celsius to Fahrenheit")
        assert len(offered[0]) == expected
    assert shares == [31, 31, 31], "the model is asked about the whole list, finish included"

"""The embedded model's second ask when the tool it picked does not fit its thought."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nexthop._tool_rank import ToolRanker
from nexthop._toolset import FINISH_TOOL, ToolDef
from nexthop._trajectory import Trajectory, Usage
from nexthop.models import _llama_runtime
from nexthop.models._llama import LlamaCppModel, _Reply  # pyright: ignore[reportPrivateUsage]
from nexthop.models._llama_prompt import THOUGHT_KEY
from nexthop.models._llama_recheck import misfit
from nexthop.models._model import ModelRequest

READ_ONLY = {"readOnlyHint": True}
WRITES = {"readOnlyHint": False, "destructiveHint": True}
# The real servers' descriptions and annotations (filesystem 2026.8.31 and mcp-server-sqlite, which annotates none).
SERVERS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("fs__read_text_file", "Read the complete contents of a file from the file system as text.", READ_ONLY),
    ("fs__write_file", "Create a new file or completely overwrite an existing file with new content.", WRITES),
    ("fs__edit_file", "Make line-based edits to a text file. Each edit replaces exact line sequences.", WRITES),
    ("fs__list_directory", "Get a detailed listing of all files and directories in a specified path.", READ_ONLY),
    ("fs__move_file", "Move or rename files and directories.", WRITES),
    ("db__read_query", "Execute a SELECT query on the SQLite database", None),
    ("db__write_query", "Execute an INSERT, UPDATE, or DELETE query on the SQLite database", None),
    ("db__create_table", "Create a new table in the SQLite database", None),
    ("db__list_tables", "List all tables in the SQLite database", None),
    ("db__describe_table", "Get the schema information for a specific table", None),
]
TOOLS = [ToolDef(name=n, description=d, annotations=a) for n, d, a in SERVERS] + [FINISH_TOOL]
RANKER = ToolRanker(TOOLS)


def again(thought: str, chosen: str) -> list[str] | None:
    offered = misfit(thought, chosen, TOOLS, RANKER)
    return None if offered is None else [t.name for t in offered]


def test_a_write_to_another_server_than_the_thought_names_is_asked_again() -> None:
    # Seen with the README's task: this thought, then write_file over the input orders.csv.
    offered = again("Insert every row into the orders table.", "fs__write_file")
    assert offered is not None and "db__write_query" in offered
    assert all(name.startswith("db__") for name in offered) and len(offered) <= 4


@pytest.mark.parametrize(
    ("thought", "chosen"),
    [
        ("Load the cities into the table", "fs__read_text_file"),  # read-only: reading first is often right
        ("Get the list of users", "db__read_query"),  # its own server fits ("list_tables")
        ("Write the totals to totals.csv", "fs__write_file"),  # it fits
        ("Everything is done.", "finish"),
        ("Insert every row into the orders table.", "db__write_query"),
    ],
)
def test_a_fitting_read_only_or_same_server_pick_is_kept(thought: str, chosen: str) -> None:
    assert again(thought, chosen) is None


def test_few_tools_are_never_checked() -> None:
    few = TOOLS[:2] + [TOOLS[6]]
    assert misfit("Insert every row into the orders table.", "fs__write_file", few, ToolRanker(few)) is None


def reply(thought: str, tool: str, arguments: dict[str, Any]) -> _Reply:
    text = json.dumps({THOUGHT_KEY: thought, "tool": tool, "arguments": arguments})
    return _Reply(text, "stop", False, Usage(input_tokens=100, output_tokens=20, requests=1))


def loaded_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **options: Any) -> LlamaCppModel:
    monkeypatch.setattr(_llama_runtime, "import_llama_cpp", lambda: None)
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    model = LlamaCppModel(tmp_path / "model.gguf", prefix_cache_bytes=0, **options)
    model._llm = object()  # pyright: ignore[reportPrivateUsage, reportAttributeAccessIssue] - never loaded here
    return model


@pytest.mark.anyio
async def test_the_second_ask_keeps_the_thought_and_offers_only_fitting_tools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = loaded_model(tmp_path, monkeypatch)
    schemas: list[dict[str, Any] | None] = []
    thought = "Insert every row into the orders table."

    def generate(request: ModelRequest, schema: dict[str, Any] | None = None) -> _Reply:
        schemas.append(schema)
        if schema is None:
            return reply(thought, "fs__write_file", {"path": "orders.csv", "content": "1,Alice"})
        return reply(thought, "db__write_query", {"query": "INSERT INTO orders VALUES (1, 'Alice', 12.5)"})

    monkeypatch.setattr(model, "_generate", generate)
    response = await model.request(ModelRequest(instructions="", trajectory=Trajectory(task="t"), tools=TOOLS))
    assert [c.name for c in response.tool_calls] == ["db__write_query"] and response.thought == thought
    second = schemas[1]
    assert second is not None
    branches = second["anyOf"]
    assert {b["properties"]["tool"]["const"] for b in branches} == set(model.rechecks[0].offered)
    assert all(b["properties"][THOUGHT_KEY] == {"const": thought} for b in branches)
    assert model.rechecks[0].chosen == "fs__write_file" and model.rechecks[0].picked == "db__write_query"
    assert response.usage.output_tokens == 40  # both asks are paid for


@pytest.mark.anyio
async def test_recheck_off_keeps_the_first_pick(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = loaded_model(tmp_path, monkeypatch, recheck=False)
    monkeypatch.setattr(
        model, "_generate", lambda *_: reply("Insert every row into the orders table.", "fs__write_file", {})
    )
    response = await model.request(ModelRequest(instructions="", trajectory=Trajectory(task="t"), tools=TOOLS))
    assert [c.name for c in response.tool_calls] == ["fs__write_file"] and model.rechecks == []

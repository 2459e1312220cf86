"""Tool narrowing: which tools are offered, and when."""

from __future__ import annotations

import pytest

from nexthop._toolset import ToolDef
from nexthop._trajectory import Step, ToolCall, Trajectory, Usage
from nexthop.policies._base import RunView
from nexthop.policies._narrowing import ToolNarrowing

# The real servers' tools, as their own descriptions put them (filesystem, SQLite, memory).
CATALOGUE = {
    "fs__read_text_file": "Read the complete contents of a file from the file system as text.",
    "fs__read_media_file": "Read an image or audio file. Returns the base64 encoded data and MIME type.",
    "fs__read_multiple_files": "Read the contents of multiple files simultaneously.",
    "fs__write_file": "Create a new file or completely overwrite an existing file with new content.",
    "fs__edit_file": "Make line-based edits to a text file. Each edit replaces exact line sequences.",
    "fs__create_directory": "Create a new directory or ensure a directory exists.",
    "fs__list_directory": "Get a detailed listing of all files and directories in a specified path.",
    "fs__directory_tree": "Get a recursive tree view of files and directories as a JSON structure.",
    "fs__move_file": "Move or rename files and directories.",
    "fs__search_files": "Recursively search for files and directories matching a pattern.",
    "fs__get_file_info": "Retrieve detailed metadata about a file or directory: size, times, permissions.",
    "fs__list_allowed_directories": "Returns the list of directories that this server is allowed to access.",
    "db__read_query": "Execute a SELECT query on the SQLite database.",
    "db__write_query": "Execute an INSERT, UPDATE, or DELETE query on the SQLite database.",
    "db__create_table": "Create a new table in the SQLite database.",
    "db__list_tables": "List all tables in the SQLite database.",
    "db__describe_table": "Get the schema information for a specific table.",
    "db__append_insight": "Add a business insight to the memo.",
    "mem__create_entities": "Create multiple new entities in the knowledge graph.",
    "mem__create_relations": "Create multiple new relations between entities in the knowledge graph.",
    "mem__add_observations": "Add new observations to existing entities in the knowledge graph.",
    "mem__delete_entities": "Delete multiple entities and their associated relations from the knowledge graph.",
    "mem__search_nodes": "Search for nodes in the knowledge graph based on a query.",
    "mem__open_nodes": "Open specific nodes in the knowledge graph by their names.",
}
TOOLS = [ToolDef(name=n, description=d) for n, d in CATALOGUE.items()]


def view(task: str, steps: list[Step] | None = None) -> RunView:
    trajectory = Trajectory(task=task)
    trajectory.steps.extend(steps or [])
    return RunView(trajectory=trajectory, usage=Usage(), elapsed_s=0.0, step_index=len(trajectory.steps) + 1)


def names(offer_tools: tuple[ToolDef, ...]) -> list[str]:
    return [t.name for t in offer_tools]


def test_few_tools_are_all_offered_without_a_record() -> None:
    policy = ToolNarrowing(threshold=12).start()
    offer = policy.filter_tools(view("read notes.txt"), TOOLS[:7])
    assert names(offer.tools) == names(tuple(TOOLS[:7]))
    assert offer.records == ()


def test_many_tools_are_narrowed_to_those_the_task_needs() -> None:
    policy = ToolNarrowing(threshold=12, top_k=8).start()
    task = "Read orders.csv, create a table orders and insert every row, then query the totals per customer"
    offer = policy.filter_tools(view(task), TOOLS)
    offered = names(offer.tools)
    assert len(offered) <= 8
    assert {"fs__read_text_file", "db__create_table", "db__write_query", "db__read_query"} <= set(offered)
    assert sum(n.startswith("mem__") for n in offered) <= 1
    assert offered == [n for n in CATALOGUE if n in offered], "the servers' order is kept"
    (record,) = offer.records
    assert record.policy == "narrowing" and record.event == "offered"
    assert record.data["offered"] == len(offered) and record.data["of"] == len(TOOLS)


def test_a_tool_the_model_called_stays_on_offer_and_the_offer_only_grows() -> None:
    policy = ToolNarrowing(threshold=12, top_k=4).start()
    task = "move report.txt into the archive folder"
    first = names(policy.filter_tools(view(task), TOOLS).tools)
    assert "fs__move_file" in first
    step = Step(index=1, thought="", tool_calls=(ToolCall(id="1", name="mem__open_nodes", arguments={}),))
    second = names(policy.filter_tools(view(task, [step]), TOOLS).tools)
    assert set(first) < set(second)
    assert "mem__open_nodes" in second


def test_a_steps_thought_brings_in_a_tool_the_task_did_not_name() -> None:
    policy = ToolNarrowing(threshold=12, top_k=3, per_step=2).start()
    task = "write a summary of notes.txt to summary.md"
    first = names(policy.filter_tools(view(task), TOOLS).tools)
    assert "fs__list_allowed_directories" not in first
    step = Step(index=1, thought="I should check which directories this server is allowed to access")
    offer = policy.filter_tools(view(task, [step]), TOOLS)
    assert "fs__list_allowed_directories" in names(offer.tools)
    assert len(offer.tools) <= len(first) + 2
    assert offer.records[0].data["added"]


def test_tools_a_steps_hint_names_join_the_offer_even_past_the_threshold() -> None:
    task = "save the word done into results/status.txt"
    thought = "Save the word done into results/status.txt."
    hint = "fs__write_file failed. Look at what does exist (with fs__list_directory or fs__search_files)."
    offers = []
    for step in (Step(index=1, thought=thought, hint=hint), Step(index=1, thought=thought)):
        policy = ToolNarrowing(threshold=3, top_k=3, per_step=2).start()
        first = names(policy.filter_tools(view(task), TOOLS).tools)
        assert len(first) == 3 and "fs__list_directory" not in first
        offers.append(names(policy.filter_tools(view(task, [step]), TOOLS).tools))
    hinted, unhinted = offers
    # Each tool the hint names joins, and nothing else: there is no room left.
    assert set(hinted) == {*first, "fs__write_file", "fs__list_directory", "fs__search_files"}
    assert unhinted == first


def test_a_task_that_names_no_reading_still_gets_its_servers_reader() -> None:
    policy = ToolNarrowing(threshold=12, top_k=6).start()
    offered = names(policy.filter_tools(view("write a summary of notes.txt to summary.md"), TOOLS).tools)
    assert "fs__write_file" in offered and "fs__read_text_file" in offered


def test_same_step_asked_twice_adds_nothing() -> None:
    policy = ToolNarrowing(threshold=12, top_k=3).start()
    steps = [Step(index=1, thought="list the tables in the database")]
    once = policy.filter_tools(view("count rows", steps), TOOLS)
    again = policy.filter_tools(view("count rows", steps), TOOLS)
    assert names(once.tools) == names(again.tools)
    assert again.records == ()


def test_runs_do_not_share_state() -> None:
    configured = ToolNarrowing(threshold=12, top_k=3)
    a, b = configured.start(), configured.start()
    a.filter_tools(view("create a table"), TOOLS)
    offer = b.filter_tools(view("search the knowledge graph nodes"), TOOLS)
    assert not any(n.startswith("db__") for n in names(offer.tools))


@pytest.mark.parametrize(("threshold", "top_k"), [(0, 1), (5, 0), (4, 5)])
def test_bad_settings_are_refused(threshold: int, top_k: int) -> None:
    with pytest.raises(ValueError, match="top_k"):
        ToolNarrowing(threshold=threshold, top_k=top_k)


def test_a_task_that_says_listed_still_gets_the_reader_not_a_deprecated_alias() -> None:
    # Measured on the task benchmark: "listed" ranked the listing tools first and the model
    # called list_directory on cities.txt until it was stopped.
    deprecated = ToolDef(name="fs__read_file", description="Read a file. DEPRECATED: use read_text_file instead.")
    policy = ToolNarrowing(threshold=12, top_k=8).start()
    task = "Make a table cities (name, country) and fill it with the cities listed in cities.txt."
    offered = names(policy.filter_tools(view(task), [deprecated, *TOOLS]).tools)
    assert len(offered) == 8
    assert {"fs__read_text_file", "db__create_table"} <= set(offered)
    assert "fs__read_file" not in offered


def shared(task: str, share: float | None, steps: list[Step] | None = None) -> RunView:
    return view(task, steps).model_copy(update={"tool_share": share})


def test_a_list_that_fits_the_models_window_is_offered_whole_past_the_count() -> None:
    policy = ToolNarrowing(threshold=12, top_k=8, max_share=0.6).start()
    offer = policy.filter_tools(shared("create a table", 0.6), TOOLS)
    assert names(offer.tools) == names(tuple(TOOLS)) and offer.records == ()


@pytest.mark.parametrize(("max_share", "share"), [(0.6, 0.61), (0.6, None), (None, 0.1)])
def test_past_the_share_or_without_one_the_count_alone_decides(max_share: float | None, share: float | None) -> None:
    policy = ToolNarrowing(threshold=12, top_k=8, max_share=max_share).start()
    offer = policy.filter_tools(shared("create a table", share), TOOLS)
    assert len(offer.tools) == 8
    assert "db__create_table" in names(offer.tools)


def test_once_narrowed_a_run_stays_narrowed_when_the_list_later_fits() -> None:
    # A list that swings between all and a few would undo "the offer only grows".
    policy = ToolNarrowing(threshold=12, top_k=8, max_share=0.6).start()
    first = policy.filter_tools(shared("create a table", 0.9), TOOLS)
    later = policy.filter_tools(shared("create a table", 0.3, [Step(index=1, thought="create it")]), TOOLS)
    assert len(first.tools) == 8 and len(later.tools) < len(TOOLS)


def test_a_share_not_above_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="max_share"):
        ToolNarrowing(max_share=0)

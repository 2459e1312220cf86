"""Look first: a "not found" failure is answered with a hint to look at what exists, naming tools on offer."""

from __future__ import annotations

import pytest
from folders_server import Folders

from nexthop import AgentHost, ModelResponse, RunResult, ScriptedModel, Trajectory, Usage
from nexthop._toolset import ToolDef
from nexthop._trajectory import Observation, ToolCall
from nexthop.cli._parser import build_parser
from nexthop.cli._policy import policy_from_args
from nexthop.models import call, finish
from nexthop.policies import LookFirst, PolicyConfig, RunView
from nexthop.policies._transient import names_missing

pytestmark = pytest.mark.anyio

READ = call("fs__read_text_file", path="notes.txt")


ON = PolicyConfig(look_first=True)


async def run(script: list[ModelResponse], policy: PolicyConfig = ON) -> RunResult:
    async with AgentHost(model=ScriptedModel(script), servers=[Folders().connection], policy=policy) as host:
        return await host.run("Read notes.txt.")


def hints(result: RunResult) -> list[tuple[int, object]]:
    return [(s.index, r.data) for s in result.steps for r in s.records if r.policy == "look_first"]


async def test_a_missing_file_gets_a_hint_naming_the_listing_tool_once_per_distinct_failure() -> None:
    script = [READ, READ, call("fs__list_directory", path="."), finish("there is no notes.txt")]
    result = await run(script, PolicyConfig(look_first=True, skip_known_failures=False))
    assert hints(result) == [(1, {"tool": "fs__read_text_file", "named": ["fs__list_directory"]})]
    hint = result.steps[0].hint
    assert hint.startswith("fs__read_text_file failed because something it names does not exist.")
    assert "look at what does exist (with fs__list_directory)" in hint
    assert result.steps[1].hint == ""  # the same failure again: said once already


async def test_a_skipped_repeat_gets_no_hint_and_it_is_off_unless_the_setting_or_flag_turns_it_on() -> None:
    # Step 2 is skipped by the known-failure policy: nothing ran, so nothing new was missing.
    result = await run([READ, READ, finish("no notes.txt")])
    assert result.steps[1].observations[0].skipped
    assert [i for i, _ in hints(result)] == [1]
    off = await run([READ, finish("no notes.txt")], PolicyConfig())
    assert hints(off) == [] and off.steps[0].hint == ""
    parser = build_parser()
    assert policy_from_args(parser.parse_args(["run", "t"]), None).look_first is False
    assert policy_from_args(parser.parse_args(["run", "t", "--look-first"]), None).look_first is True


def test_only_read_only_lookers_on_offer_are_named_and_the_failing_tools_server_first() -> None:
    def tool(name: str, server: str, read_only: bool | None = None) -> ToolDef:
        annotations = None if read_only is None else {"readOnlyHint": read_only}
        return ToolDef(name=f"{server}__{name}", server=server, remote_name=name, annotations=annotations)

    offered = [
        tool("list_tables", "db"),
        tool("list_trash", "fs", read_only=False),  # says it writes: emptying a list is no way to look
        tool("read_file", "fs"),
        tool("search_files", "fs", read_only=True),
        tool("directory_tree", "fs"),
        tool("describe_table", "db"),
    ]
    policy = LookFirst().start()
    view = RunView(trajectory=Trajectory(task="t"), usage=Usage(), elapsed_s=0.0, step_index=1)
    policy.filter_tools(view, offered)
    read = ToolCall(id="1", name="fs__read_file", arguments={"path": "a"})
    verdict = policy.after_step(view, [read], [Observation(call_id="1", content="ENOENT: open 'a'", is_error=True)])
    assert verdict.kind == "hint"
    assert "(with fs__search_files, fs__directory_tree or db__list_tables)" in verdict.hint
    # Nothing to name when no such tool is on offer: the hint still says to look.
    policy = LookFirst().start()
    policy.filter_tools(view, [tool("read_file", "fs")])
    verdict = policy.after_step(view, [read], [Observation(call_id="1", content="ENOENT: open 'a'", is_error=True)])
    assert "look at what does exist: the task" in verdict.hint


@pytest.mark.parametrize(
    ("content", "is_error", "missing"),
    [
        ("ENOENT: no such file or directory, open '/w/notes.md'", True, True),
        ("Database error: no such column: email", False, True),
        ("Could not find exact match for edit:\n[ ] water plants", True, True),
        ("404 Not Found", True, True),
        ("Error: table users does not exist", False, True),
        ("Access denied - path outside allowed directories", True, False),
        ("Successfully wrote 'not found' to notes.txt", False, False),  # a success that mentions it
    ],
)
def test_not_found_is_read_from_the_words_servers_use(content: str, is_error: bool, missing: bool) -> None:
    assert names_missing(Observation(call_id="1", content=content, is_error=is_error)) is missing


def _driven(tools: list[ToolDef]) -> tuple[LookFirst, list[RunView]]:
    policy = LookFirst().start()
    views = [RunView(trajectory=Trajectory(task="t"), usage=Usage(), elapsed_s=0.0, step_index=i) for i in (1, 2, 3)]
    policy.filter_tools(views[0], tools)
    return policy, views


FS_TOOLS = [
    ToolDef(name="fs__read_file", server="fs", remote_name="read_file"),
    ToolDef(name="fs__list_directory", server="fs", remote_name="list_directory"),
]


def test_a_listing_that_shows_a_near_name_after_the_failure_is_pointed_out_once() -> None:
    policy, (one, two, three) = _driven(FS_TOOLS)
    read = ToolCall(id="1", name="fs__read_file", arguments={"path": "/w/meeting-notes.txt"})
    enoent = Observation(
        call_id="1", content="ENOENT: no such file or directory, open '/w/meeting-notes.txt'", is_error=True
    )
    first = policy.after_step(one, [read], [enoent])
    assert [r.event for r in first.records] == ["hint"]
    listing = ToolCall(id="2", name="fs__list_directory", arguments={"path": "/w"})
    shown = Observation(call_id="2", content="[FILE] data.db\n[FILE] meeting_notes.txt")
    near = policy.after_step(two, [listing], [shown])
    assert near.hint == (
        "meeting-notes.txt does not exist (step 1), but step 2 shows meeting_notes.txt: "
        "if that is what the task means, use meeting_notes.txt."
    )
    assert [r.data for r in near.records] == [
        {"missing": "meeting-notes.txt", "near": "meeting_notes.txt", "seen_at": 2}
    ]
    assert policy.after_step(three, [listing], [shown]).kind == "go_on"  # said once


def test_a_near_name_already_shown_replaces_the_advice_to_look_and_contained_names_count() -> None:
    db_tools = [
        ToolDef(name="db__read_query", server="db", remote_name="read_query"),
        ToolDef(name="db__describe_table", server="db", remote_name="describe_table"),
    ]
    policy, (one, two, _) = _driven(db_tools)
    describe = ToolCall(id="1", name="db__describe_table", arguments={"table_name": "users"})
    columns = "[{'name': 'id', 'type': 'INTEGER'}, {'name': 'full_name'}, {'name': 'email_address', 'type': 'TEXT'}]"
    assert policy.after_step(one, [describe], [Observation(call_id="1", content=columns)]).kind == "go_on"
    select = ToolCall(id="2", name="db__read_query", arguments={"query": "SELECT email FROM users"})
    verdict = policy.after_step(
        two, [select], [Observation(call_id="2", content="Database error: no such column: email")]
    )
    assert [r.event for r in verdict.records] == ["near"]
    assert verdict.hint.startswith("email does not exist (step 2), but step 1 shows email_address")


def test_names_from_a_files_content_are_not_suggestions() -> None:
    policy, (one, two, _) = _driven(FS_TOOLS)
    read = ToolCall(id="1", name="fs__read_file", arguments={"path": "notes.txt"})
    content = Observation(call_id="1", content="rename it to notes.mdx later")  # near notes.md, were it a listing
    policy.after_step(one, [read], [content])
    missing = ToolCall(id="2", name="fs__read_file", arguments={"path": "notes.md"})
    verdict = policy.after_step(
        two, [missing], [Observation(call_id="2", content="ENOENT: open 'notes.md'", is_error=True)]
    )
    assert [r.event for r in verdict.records] == ["hint"] and "shows" not in verdict.hint


def test_only_the_last_part_of_a_path_can_be_missing() -> None:
    policy, (one, two, _) = _driven(FS_TOOLS)
    listing = ToolCall(id="1", name="fs__list_directory", arguments={"path": "/srv"})
    policy.after_step(one, [listing], [Observation(call_id="1", content="[DIR] workshop\n[FILE] plan.txt")])
    read = ToolCall(id="2", name="fs__read_file", arguments={"path": "/srv/work/notes.md"})
    enoent = Observation(call_id="2", content="ENOENT: open '/srv/work/notes.md'", is_error=True)
    verdict = policy.after_step(two, [read], [enoent])  # "work" is a folder on the way, not the name that is missing
    assert [r.event for r in verdict.records] == ["hint"] and "workshop" not in verdict.hint


def test_a_thing_missing_is_hinted_once_whichever_tool_meets_it_and_a_looker_that_finds_nothing_confirms_it() -> None:
    text_reader = ToolDef(name="fs__read_text_file", server="fs", remote_name="read_text_file")
    policy, (one, two, three) = _driven([*FS_TOOLS, text_reader])
    enoent = "ENOENT: no such file or directory, open '/w/backup/data.csv'"
    first = ToolCall(id="1", name="fs__read_file", arguments={"path": "backup/data.csv"})
    sibling = ToolCall(id="2", name="fs__read_text_file", arguments={"path": "backup/data.csv"})
    assert policy.after_step(one, [first], [Observation(call_id="1", content=enoent, is_error=True)]).kind == "hint"
    again = policy.after_step(two, [sibling], [Observation(call_id="2", content=enoent, is_error=True)])
    assert again.kind == "go_on"
    listing = ToolCall(id="3", name="fs__list_directory", arguments={"path": "backup"})
    scandir = Observation(call_id="3", content="ENOENT: no such file or directory, scandir '/w/backup'", is_error=True)
    confirmed = policy.after_step(three, [listing], [scandir])
    assert [r.event for r in confirmed.records] == ["confirmed"]
    assert confirmed.hint.startswith("fs__list_directory looked and found nothing there: it does not exist.")
    assert "If the task needs it, create it" in confirmed.hint

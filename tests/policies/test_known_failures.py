"""Known failures: a call that failed for good is not run again unchanged until a write succeeds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import pytest
from folders_server import Folders

from nexthop import AgentHost, ModelResponse, RunResult, ScriptedModel
from nexthop._toolset import ToolDef
from nexthop._trajectory import ToolCall
from nexthop.cli._parser import build_parser
from nexthop.cli._policy import policy_from_args
from nexthop.models import call, finish
from nexthop.models._model import ModelRequest
from nexthop.policies import ALLOW, CallVerdict, Permissions, PolicyConfig, RunPolicy, RunView

pytestmark = pytest.mark.anyio


MOVE = call("fs__move_file", source="data.csv", destination="backup/data.csv")


Item = ModelResponse | Callable[[ModelRequest], ModelResponse]


async def run(folders: Folders, script: Sequence[Item], policy: PolicyConfig | None = None) -> RunResult:
    async with AgentHost(model=ScriptedModel(script), servers=[folders.connection], policy=policy) as host:
        return await host.run("Move data.csv into the backup folder.")


def offered(
    seen: list[list[str]], response: ModelResponse, listed: list[list[str]] | None = None
) -> Callable[[ModelRequest], ModelResponse]:
    """A script item that notes the tools on offer (and those listed), then answers ``response``."""

    def item(request: ModelRequest) -> ModelResponse:
        seen.append([t.name for t in request.tools])
        if listed is not None:
            listed.append([t.name for t in request.prompt_tools])
        return response

    return item


async def test_a_repeat_of_a_failed_call_is_not_run_and_its_tool_sits_out_one_step() -> None:
    folders, seen, listed = Folders(flaky_left=1), list[list[str]](), list[list[str]]()
    script = [
        MOVE,
        MOVE,
        offered(seen, call("fs__create_directory", path="backup"), listed),
        offered(seen, MOVE, listed),
        finish("moved"),
    ]
    result = await run(folders, script)
    assert (result.status, result.result) == ("completed", "moved")
    skipped = result.steps[1].observations[0]
    assert skipped.is_error and not skipped.denied
    assert skipped.content.startswith("not run: this exact call already failed at step 1 (")
    assert "ENOENT" in skipped.content and "fs__move_file is not on offer for your next step" in skipped.content
    assert [(r.event, r.data["tool"]) for r in result.steps[1].records if r.policy == "known_failures"] == [
        ("skipped", "fs__move_file")
    ]
    # Left out of step 3's offer only; the successful write then made the move worth running.
    assert "fs__move_file" not in seen[0] and "fs__move_file" in seen[1]
    # Still listed while withheld: the prompt of a model that lists its tools stays the same.
    assert listed[0] == listed[1] and "fs__move_file" in listed[0]
    assert [r.data for r in result.steps[2].records if r.event == "withheld" and r.policy == "known_failures"] == [
        {"tools": ["fs__move_file"], "step": 3}
    ]
    assert folders.calls["move_file"] == 2  # steps 1 and 4; step 2's repeat never reached the server
    assert not result.steps[3].observations[0].is_error


async def test_a_read_changes_nothing_so_the_repeat_after_it_is_still_skipped() -> None:
    folders = Folders()
    script = [MOVE, call("fs__list_directory", path="."), MOVE, finish("could not move"), finish("could not move")]
    result = await run(folders, script)
    assert folders.calls["move_file"] == 1
    assert result.steps[2].observations[0].content.startswith("not run: this exact call already failed at step 1")


async def test_other_arguments_and_transient_failures_are_run() -> None:
    folders = Folders(flaky_left=1)
    listing = call("fs__list_directory", path=".")
    other = call("fs__move_file", source="data.csv", destination="data-old.csv")
    result = await run(folders, [MOVE, other, listing, listing, finish("done")], PolicyConfig(call_retries=0))
    assert folders.calls == Counter({"move_file": 2, "list_directory": 2})  # the retry after "try again" ran
    assert all("not run" not in o.content for s in result.steps for o in s.observations)


async def test_skips_are_not_denials_and_denials_are_not_remembered() -> None:
    folders = Folders(flaky_left=1)
    # One denial would end the run (max_denials=1): three skips must not.
    policy = PolicyConfig(max_denials=1, doom_loop_n=0, failed_write_check=False)
    listing = call("fs__list_directory", path=".")
    result = await run(folders, [MOVE, MOVE, listing, MOVE, listing, MOVE, finish("no")], policy)
    assert (result.status, result.termination.kind) == ("completed", "completed")
    assert sum(o.content.startswith("not run:") for s in result.steps for o in s.observations) == 3
    # A call a person or a rule refused was never run: nothing is known about how it fails.
    asked = PolicyConfig(permissions=Permissions(ask=("fs__move_file",)), max_denials=3, doom_loop_n=0)
    refused = await run(Folders(), [MOVE, MOVE, finish("no")], asked)
    assert [s.observations[0].denied for s in refused.steps[:2]] == [True, True]


async def test_the_setting_and_the_cli_flag_turn_it_off() -> None:
    folders = Folders()
    await run(folders, [MOVE, MOVE, finish("no"), finish("no")], PolicyConfig(skip_known_failures=False))
    assert folders.calls["move_file"] == 2
    parser = build_parser()
    assert policy_from_args(parser.parse_args(["run", "t"]), None).skip_known_failures is True
    off = policy_from_args(parser.parse_args(["run", "t", "--no-skip-known-failures"]), None)
    assert off.skip_known_failures is False


class DenyAtStep(RunPolicy):
    """Denies every call at one step: a stricter answer than a skip, given beside it."""

    name = "deny_at_step"

    def __init__(self, step: int) -> None:
        self.step = step

    def check_call(self, view: RunView, call: ToolCall, tool: ToolDef) -> CallVerdict:
        return CallVerdict(kind="deny", reason="not now") if view.step_index == self.step else ALLOW


async def test_a_known_failure_another_policy_denies_is_a_denial_and_its_tool_stays_on_offer() -> None:
    # Every policy answers check_call and deny beats skip: the repeat is denied, not skipped.
    folders, seen = Folders(), list[list[str]]()
    script = [MOVE, MOVE, offered(seen, finish("no")), finish("no")]
    async with AgentHost(model=ScriptedModel(script), servers=[folders.connection], policies=[DenyAtStep(2)]) as host:
        result = await host.run("Move data.csv into the backup folder.")
    assert result.steps[1].observations[0].denied
    assert "fs__move_file" in seen[0] and folders.calls["move_file"] == 1

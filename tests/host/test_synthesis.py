"""Tool synthesis in the loop: create_tool's checks, the next-step offer, self-healing, the revision
cap, and the policies (off by default, approval shows the source, a deny rule forbids it).

Needs bubblewrap (``make test`` installs it).
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from nexthop import AgentHost, ModelRequest, ModelResponse, ScriptedModel, tool
from nexthop._exceptions import ConfigError
from nexthop.cli._tool_library import print_library, save_tools
from nexthop.host._approval import ApprovalDecision, ApprovalRequest
from nexthop.host._sandbox import SandboxConfig, SandboxMount
from nexthop.host._synthesis import check_definition
from nexthop.host._tool_library import SavedTool, ToolLibrary
from nexthop.models import call, finish
from nexthop.policies import PolicyConfig
from nexthop.policies._permissions import Permissions

pytestmark = pytest.mark.anyio
# The scripts repeat calls, failed or not, to test synthesis's own counting: no policy may skip them.
ON = PolicyConfig(synthesize=True, doom_loop_n=0, skip_known_failures=False, skip_repeated_writes=False)
SHA = "import hashlib\n\ndef sha(text):\n    return hashlib.sha256(text.encode()).hexdigest()\n"
SCHEMA = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}


@pytest.fixture(autouse=True)
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ToolLibrary:
    """Each test gets its own user data folder, so runs never write the developer's tool library."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return ToolLibrary()


def create(name: str = "sha", source: str = SHA, **extra: Any) -> ModelResponse:
    return call("create_tool", name=name, description="sha256 of a text", input_schema=SCHEMA, source=source, **extra)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"source": "def f(:\n"}, "does not parse"),
        ({"source": "def a():\n    pass\ndef b():\n    pass\n"}, "exactly one function"),
        ({"source": "import os\nos.system('x')\ndef a():\n    pass\n"}, "exactly one function"),
        ({"source": "x" * 20_000}, "at most 12000"),
        ({"name": "Bad-Name"}, "snake_case"),
        ({"input_schema": {"type": "string"}}, '"type": "object"'),
        ({"input_schema": {"type": "object", "properties": {"a": {"type": 5}}}}, "not valid JSON Schema"),
        ({"output_schema": {"type": "nonsense"}}, "output_schema is not valid"),
    ],
)
def test_a_definition_is_checked(change: dict[str, Any], problem: str) -> None:
    arguments = {"name": "sha", "description": "d", "input_schema": SCHEMA, "source": SHA, **change}
    assert problem in str(check_definition(arguments))


async def test_a_created_tool_is_offered_from_the_next_step_and_runs_sandboxed() -> None:
    offered: list[list[str]] = []

    def then(action: ModelResponse) -> Any:
        def respond(request: ModelRequest) -> ModelResponse:
            offered.append([t.name for t in request.tools])
            return action

        return respond

    model = ScriptedModel([then(create()), then(call("synth__sha", text="abc")), then(finish("done"))])
    async with AgentHost(model=model, policy=ON) as host:
        result = await host.run("hash abc")
    assert "create_tool" in offered[0] and "synth__sha" not in offered[0]
    assert "synth__sha" in offered[1]
    creation, use = result.steps[0], result.steps[1]
    assert creation.tool_calls[0].arguments["source"] == SHA  # the step records exactly what code runs
    assert "created synth__sha" in creation.observations[0].content
    assert use.observations[0].content == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert not use.observations[0].is_error


async def test_a_failing_tool_shows_its_traceback_and_can_be_revised() -> None:
    broken = "def sha(text):\n    return int(text)\n"
    model = ScriptedModel(
        [create(source=broken), call("synth__sha", text="abc"), create(), call("synth__sha", text="abc"), finish("ok")]
    )
    async with AgentHost(model=model, policy=ON) as host:
        result = await host.run("hash abc")
    failed = result.steps[1].observations[0]
    assert failed.is_error
    assert "ValueError: invalid literal for int()" in failed.content
    assert "line 2, in sha: return int(text)" in failed.content
    assert "3 revisions left" in failed.content
    assert "revised synth__sha (revision 1 of 3)" in result.steps[2].observations[0].content
    assert not result.steps[3].observations[0].is_error


async def test_after_the_last_revision_a_failing_tool_is_withdrawn() -> None:
    broken = "def sha(text):\n    raise RuntimeError('still broken')\n"
    script = [create(source=broken), call("synth__sha", text="a")] * 4
    model = ScriptedModel([*script, create(), finish("gave up")])
    async with AgentHost(model=model, policy=ON) as host:
        result = await host.run("hash a")
    last_call = result.steps[7].observations[0]
    assert "withdrawn after 3 revisions" in last_call.content
    again = result.steps[8].observations[0]
    assert again.is_error and "was withdrawn" in again.content


async def test_a_result_that_breaks_its_output_schema_is_an_error() -> None:
    model = ScriptedModel([create(output_schema={"type": "integer"}), call("synth__sha", text="a"), finish("x")])
    async with AgentHost(model=model, policy=ON) as host:
        result = await host.run("hash a")
    obs = result.steps[1].observations[0]
    assert obs.is_error and "fails its output schema" in obs.content


async def test_a_name_taken_by_another_tool_is_refused() -> None:
    @tool(name="synth__sha")
    def other(text: str) -> str:
        """Another tool."""
        return text

    model = ScriptedModel([create(), finish("x")])
    async with AgentHost(model=model, policy=ON, tools=[other]) as host:
        result = await host.run("hash")
    assert "taken by another tool" in result.steps[0].observations[0].content


async def test_synthesis_is_off_by_default() -> None:
    async with AgentHost(model=ScriptedModel([create(), finish("x")])) as host:
        result = await host.run("hash")
        assert "create_tool" not in [t.name for t in await host.list_tools()]
    assert "unknown tool 'create_tool'" in result.steps[0].observations[0].content


async def test_approval_is_asked_with_the_source_under_suggest() -> None:
    asked: list[ApprovalRequest] = []

    async def approver(request: ApprovalRequest) -> ApprovalDecision:
        asked.append(request)
        return ApprovalDecision(approved=request.tool == "create_tool", reason="checked by a test")

    policy = ON.model_copy(update={"permissions": Permissions(autonomy="suggest")})
    model = ScriptedModel([create(), call("synth__sha", text="a"), finish("x")])
    async with AgentHost(model=model, policy=policy, approver=approver) as host:
        result = await host.run("hash")
    assert [r.tool for r in asked] == ["create_tool", "synth__sha"]
    assert asked[0].arguments["source"] == SHA
    assert result.steps[1].observations[0].denied  # calls of the written tool are asked about too


async def test_a_deny_rule_forbids_synthesis() -> None:
    policy = ON.model_copy(update={"permissions": Permissions(deny=("create_tool",))})
    model = ScriptedModel([create(), call("synth__sha", text="a"), finish("x")])
    async with AgentHost(model=model, policy=policy) as host:
        result = await host.run("hash")
    assert result.steps[0].observations[0].denied
    assert "unknown tool 'synth__sha'" in result.steps[1].observations[0].content


def test_without_bubblewrap_synthesis_cannot_be_turned_on(monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "bwrap" else real(name, *a, **k))  # pyright: ignore[reportUnknownLambdaType, reportUnknownArgumentType]
    with pytest.raises(ConfigError, match="apt-get install -y bubblewrap"):
        AgentHost(model=ScriptedModel([]), policy=ON)


async def test_a_tool_that_worked_is_a_candidate_and_once_saved_is_offered_in_later_runs(library: ToolLibrary) -> None:
    failing = "def bad(text):\n    raise ValueError(text)\n"
    model = ScriptedModel(
        [create(), call("synth__sha", text="a"), create("bad", failing), call("synth__bad", text="a"), finish("x")]
    )
    async with AgentHost(model=model, policy=ON) as host:
        await host.run("hash a")
    [candidate] = library.candidates()  # only the tool that returned a result
    assert (candidate.name, candidate.source, candidate.task) == ("sha", SHA, "hash a")
    assert candidate.run_id and not library.offered()

    buffer = io.StringIO()
    assert save_tools(["sha"], Console(file=buffer, width=200), library) == 0
    assert "saved synth__sha" in buffer.getvalue()
    later = ScriptedModel([call("synth__sha", text="abc"), finish("x")])
    async with AgentHost(model=later, policy=ON) as host:
        result = await host.run("hash abc again")
    assert result.steps[0].observations[0].content.startswith("ba7816bf")


async def test_a_saved_tool_whose_source_changed_is_withheld_until_saved_again(library: ToolLibrary) -> None:
    model = ScriptedModel([create(), call("synth__sha", text="a"), finish("x")])
    async with AgentHost(model=model, policy=ON) as host:
        await host.run("hash a")
    library.save("sha")
    path = library.folder / "saved" / "sha.json"
    data = json.loads(path.read_text())  # noqa: ASYNC240 - a test tampering with the file
    path.write_text(json.dumps({**data, "source": data["source"].replace("sha256", "md5")}))  # noqa: ASYNC240
    async with AgentHost(model=ScriptedModel([call("synth__sha", text="a"), finish("x")]), policy=ON) as host:
        result = await host.run("hash a")
    assert "unknown tool 'synth__sha'" in result.steps[0].observations[0].content
    buffer = io.StringIO()
    print_library(Console(file=buffer, width=200), library)
    assert "changed: save again" in buffer.getvalue()


def test_saving_an_unknown_tool_names_the_candidates(library: ToolLibrary) -> None:
    with pytest.raises(ConfigError, match="candidates: none"):
        save_tools(["nope"], Console(file=io.StringIO()), library)


def test_nexthop_tools_save_approves_a_candidate_without_any_server(
    library: ToolLibrary, capsys: pytest.CaptureFixture[str]
) -> None:
    from nexthop.cli._app import main

    library.add_candidate(SavedTool(name="sha", source=SHA, function="sha", input_schema=SCHEMA, task="hash a"))
    assert main(["tools", "--save", "sha"]) == 0
    assert "saved synth__sha" in capsys.readouterr().err
    assert [t.name for t in library.offered()] == ["sha"]


def test_nexthop_run_synthesize_offers_to_keep_a_tool_that_worked(
    library: ToolLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from nexthop.cli._app import main

    script = tmp_path / "script.json"
    arguments = {"name": "sha", "description": "sha256", "input_schema": SCHEMA, "source": SHA}
    steps = [
        {"tool": "create_tool", "arguments": arguments},
        {"tool": "synth__sha", "arguments": {"text": "abc"}},
        {"tool": "finish", "arguments": {"result": "done"}},
    ]
    script.write_text(json.dumps(steps))
    monkeypatch.setenv("NEXTHOP_MODEL", f"scripted:{script}")
    assert main(["run", "--synthesize", "--max-steps", "5", "hash abc"]) == 0
    assert "nexthop tools --save sha" in capsys.readouterr().err  # no terminal here: nothing saved
    assert [t.name for t in library.candidates()] == ["sha"] and not library.saved()


async def test_at_a_terminal_a_tool_is_saved_when_the_person_says_yes(
    library: ToolLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nexthop.cli import _tool_library

    since = _tool_library.library_time()
    library.add_candidate(SavedTool(name="sha", source=SHA, function="sha", input_schema=SCHEMA))
    monkeypatch.setattr(_tool_library.sys.stdin, "isatty", lambda: True)
    asked: list[str] = []
    monkeypatch.setattr(_tool_library.Confirm, "ask", lambda q, **_: asked.append(q) or True)  # pyright: ignore[reportUnknownLambdaType, reportUnknownArgumentType]
    buffer = io.StringIO()
    assert await _tool_library.offer_to_save(Console(file=buffer, width=200), since, library) == ["sha"]
    assert "hashlib.sha256" in buffer.getvalue()  # the source is shown before the question
    assert [t.name for t in library.offered()] == ["sha"] and len(asked) == 1


def test_a_name_given_with_the_prefix_is_not_prefixed_twice() -> None:
    arguments = {"name": "synth__sha", "description": "d", "input_schema": SCHEMA, "source": SHA}
    checked = check_definition(arguments)
    assert not isinstance(checked, str) and checked.definition.name == "synth__sha"


async def test_a_tool_that_opens_a_host_file_is_told_to_take_the_contents() -> None:
    reads = "def sha(text):\n    return open(text).read()\n"
    model = ScriptedModel([create(source=reads), call("synth__sha", text="/etc/hostname"), finish("x")])
    async with AgentHost(model=model, policy=ON) as host:
        result = await host.run("hash")
    seen = result.steps[1].observations[0].content
    assert "the tool sees none of them: read others with another tool and pass the contents in" in seen


async def test_a_mounted_folder_is_readable_read_only_and_named_in_create_tool(tmp_path: Path) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    (tmp_path / "secret.txt").write_text("not mounted")
    reads = "def sha(text):\n    return open(text).read()\n"
    writes = "def put(text):\n    open(text, 'w').write('x')\n    return 'ok'\n"
    offered: dict[str, str] = {}

    def first(request: ModelRequest) -> ModelResponse:
        offered.update({t.name: t.description for t in request.tools})
        return create(source=reads)

    model = ScriptedModel(
        [
            first,
            call("synth__sha", text=str(folder / "notes.txt")),
            call("synth__sha", text=str(tmp_path / "secret.txt")),
            create(name="put", source=writes),
            call("synth__put", text=str(folder / "out.txt")),
            finish("x"),
        ]
    )
    sandbox = SandboxConfig(mounts=(SandboxMount(path=folder),))
    async with AgentHost(model=model, policy=ON, sandbox=sandbox) as host:
        result = await host.run("hash")
    assert f"sees only {folder} (read-only)" in offered["create_tool"]
    observations = [s.observations[0] for s in result.steps]
    assert observations[1].content == "hello" and not observations[1].is_error
    assert observations[2].is_error and f"the tool sees only {folder} (read-only)" in observations[2].content
    assert observations[4].is_error and not (folder / "out.txt").exists()


async def test_resubmitting_the_same_source_is_refused_and_counts_as_a_revision() -> None:
    model = ScriptedModel([create(), create(), create(), create(), create(), finish("x")])
    async with AgentHost(model=model, policy=ON) as host:
        result = await host.run("hash")
    contents = [s.observations[0].content for s in result.steps[:5]]
    assert "is unchanged" in contents[1] and "is unchanged" in contents[3]
    assert "withdrawn" in contents[4]


def test_nexthop_run_sandbox_read_mounts_a_folder_and_refuses_a_missing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from nexthop.cli._app import main

    work = tmp_path / "work"
    work.mkdir(mode=0o755)
    (work / "notes.txt").write_text("hello")
    reads = "def sha(text):\n    return open(text).read()\n"
    arguments = {"name": "sha", "description": "read", "input_schema": SCHEMA, "source": reads}
    steps = [
        {"tool": "create_tool", "arguments": arguments},
        {"tool": "synth__sha", "arguments": {"text": "notes.txt"}},  # the first --sandbox-read is the workdir
        {"tool": "finish", "arguments": {"result": "done"}},
    ]
    script = tmp_path / "script.json"
    script.write_text(json.dumps(steps))
    monkeypatch.setenv("NEXTHOP_MODEL", f"scripted:{script}")
    argv = ["run", "--synthesize", "--no-store", "--json", "--max-steps", "5", "read notes"]
    assert main([*argv[:-1], "--sandbox-read", str(work), argv[-1]]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["trajectory"]["steps"][1]["observations"][0]["content"] == "hello"
    assert main([*argv[:-1], "--sandbox-read", str(tmp_path / "nowhere"), argv[-1]]) == 2
    assert f"--sandbox-read {tmp_path / 'nowhere'}: not a folder" in capsys.readouterr().err


@pytest.mark.skipif(os.getuid() != 0, reason="as root, written tools run as a uid of their own")
def test_as_root_a_mount_other_users_cannot_read_is_refused_up_front(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(ConfigError, match=r"mode 700\) cannot be read by written tools.*chmod o\+rx"):
        AgentHost(model=ScriptedModel([]), policy=ON, sandbox=SandboxConfig(mounts=(SandboxMount(path=private),)))


async def test_with_a_workdir_relative_paths_read_the_mounted_folder(tmp_path: Path) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "notes.txt").write_text("relative")
    reads = "def sha(text):\n    return open(text).read()\n"
    model = ScriptedModel([create(source=reads), call("synth__sha", text="notes.txt"), finish("x")])
    sandbox = SandboxConfig(mounts=(SandboxMount(path=folder),), workdir=folder)
    async with AgentHost(model=model, policy=ON, sandbox=sandbox) as host:
        result = await host.run("hash")
    assert result.steps[1].observations[0].content == "relative"


def test_a_workdir_must_be_a_mount(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not one of the mounts"):
        SandboxConfig(workdir=tmp_path)

"""Running one task with one agent in a fresh workspace, and what a run is judged and measured by.

Both agents get the same servers, started fresh in the task's workspace: the npm
filesystem server (allowed folder: the workspace) and the SQLite server on ``data.db``,
with their whole tool sets, or a curated subset with ``--tools curated``, or with five more
real servers beside them with ``--tools many`` (60+ tools, see `_many`). For the
``failing_tools`` category each server sits behind the fault-injecting proxy, with a seed
derived from the task, the server and ``--seed``, so both agents face the same draws.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
from benchmarks.tasks._many import extra_servers, prepare_workspace, tool_count_line
from benchmarks.tasks._task import DB_NAME, Task

from nexthop import (
    AgentHost,
    Model,
    ModelRequest,
    ModelResponse,
    PolicyConfig,
    RunResult,
    StdioServerConfig,
    ToolDef,
)
from nexthop.clients import MCPConnection, ServerGroup

__all__ = [
    "FS_PACKAGE",
    "AgentName",
    "Outcome",
    "RunOptions",
    "SharedModel",
    "ToolsChoice",
    "count_tools",
    "run_task",
    "server_configs",
    "sqlite_server_command",
    "workspace_root",
]

AgentName = Literal["nexthop", "react"]
ToolsChoice = Literal["whole", "curated", "many"]
FS_PACKAGE = "@modelcontextprotocol/server-filesystem@2026.8.31"  # keep in step with examples/servers.json
_PROXY = Path(__file__).with_name("_fault_proxy.py")
_GRACE_S = 300.0  # one more model turn may run past the wall-time cap before the runner cuts it off
# The hand-picked tools of examples/servers.json: what users had to write before nexthop narrowed tools itself.
_CURATED = {
    "fs": ("read_text_file", "write_file", "list_directory"),
    "db": ("create_table", "write_query", "read_query", "list_tables"),
}


@dataclass(frozen=True)
class RunOptions:
    """Settings shared by every run.

    Attributes:
        max_steps: Step budget for both agents (model turns).
        tools: ``whole`` (every tool of both servers), ``curated`` (the 7 examples/servers.json once hand-picked) or
            ``many`` (both servers whole plus `_many`'s five: 60+ tools).
        seed: Base seed of the fault proxy's draws.
        fail_rate: Probability that a proxied call fails (Autono: 0.5).
        timeout_s: Wall-time cap on one run (seconds): both agents stop at the first step boundary past it.
        keep: Keep workspaces (their paths go to stderr) instead of deleting them.
        retry_handling: nexthop's handling of transient failures (the host's own retries and
            the doom-loop detector's excuse for a model's retry); False measures nexthop without it.
        retries: nexthop's retries with reflection (``AgentHost.run(task, retries=N)``): a run that
            stops early is run again with the failed attempt and the model's reflection as memory.
            Steps, tokens and time then count every attempt; ``timeout_s`` caps each attempt.
        narrow_tools: nexthop's tool narrowing (`PolicyConfig.narrow_tools_over`): narrow past
            this many tools; None turns it off; ``"default"`` keeps nexthop's default (12).
        policy: Other `PolicyConfig` fields for nexthop's runs, as (field, value) pairs.
    """

    max_steps: int = 15
    tools: ToolsChoice = "whole"
    seed: int = 0
    fail_rate: float = 0.5
    timeout_s: float = 900.0
    keep: bool = False
    retry_handling: bool = True
    retries: int = 0
    narrow_tools: int | None | Literal["default"] = "default"
    policy: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Outcome:
    """One task run by one agent: the verdict on the workspace and what the run cost.

    Attributes:
        task: The task's id.
        category: The task's category.
        agent: ``nexthop`` or ``react``.
        passed: The task's check accepted the workspace the run left.
        problem: What the check found wrong (empty when passed).
        stop: How the run ended (nexthop's termination kind; ``answered``/``max_steps``/
            ``error`` for the baseline; ``timeout`` or ``crash`` from the runner).
        steps: Model turns.
        wall_s: Wall time of the run, servers' start-up excluded (seconds).
        input_tokens: Prompt tokens evaluated (tokens).
        cached_input_tokens: Prompt tokens reused from the KV or prompt cache (tokens).
        output_tokens: Generated tokens (tokens).
        detail: The run's own last words (answer or error), cut to 300 characters.
        policy_events: nexthop's loop and finish-time policy records, ``"step:policy:event"``
            in order (doom loop, failed-write and completion checks, text replies): what
            the host did to the run, for telling which mechanism acted in which task.
    """

    task: str
    category: str
    agent: str
    passed: bool
    problem: str
    stop: str
    steps: int
    wall_s: float
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    detail: str
    policy_events: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A plain dict for ``--json``."""
        return asdict(self)


class SharedModel(Model):
    """One loaded model for every task: `AgentHost` closes its model on exit, this ignores that."""

    def __init__(self, inner: Model) -> None:
        self.inner = inner
        self.name = inner.name

    async def request(self, request: ModelRequest) -> ModelResponse:
        """Ask the wrapped model."""
        return await self.inner.request(request)

    def tool_list_share(self, tools: Sequence[ToolDef]) -> float | None:
        """The wrapped model's answer (tool narrowing asks it)."""
        return self.inner.tool_list_share(tools)

    async def aclose(self) -> None:
        """Keep the model loaded for the next task (see `close`)."""

    async def close(self) -> None:
        """Free the wrapped model."""
        await self.inner.aclose()


def sqlite_server_command() -> str:
    """Where examples/setup.sh put the SQLite server (``NEXTHOP_SQLITE_VENV`` or the user cache)."""
    venv = os.environ.get("NEXTHOP_SQLITE_VENV") or str(Path.home() / ".cache/nexthop/sqlite-server-venv")
    return str(Path(venv) / "bin" / "mcp-server-sqlite")


def server_configs(task: Task, workspace: Path, options: RunOptions) -> list[StdioServerConfig]:
    """The servers of one run, started in ``workspace``; behind the fault proxy when the task has faults.

    Args:
        task: The task (its ``faults`` and ``id`` decide the proxy and its seed).
        workspace: The run's workspace (absolute); with ``--tools many`` it is made a git repository.
        options: Shared settings (``tools``, ``seed``, ``fail_rate``).

    Returns:
        One stdio config per server, in the order their tools are offered.
    """
    plain: dict[str, tuple[str, list[str], dict[str, str]]] = {
        "fs": ("npx", ["-y", FS_PACKAGE, "."], {}),
        "db": (sqlite_server_command(), ["--db-path", DB_NAME], {}),
    }
    if options.tools == "many":
        prepare_workspace(workspace)
        plain |= extra_servers(workspace)
    configs: list[StdioServerConfig] = []
    for name, (command, args, env) in plain.items():
        if task.faults:
            seed = zlib.crc32(f"{task.id}:{name}:{options.seed}".encode())
            proxy = [str(_PROXY), "--seed", str(seed), "--fail-rate", str(options.fail_rate), "--", command]
            command, args = sys.executable, proxy + args
        configs.append(
            StdioServerConfig(
                name=name,
                command=command,
                args=args,
                env=env,
                cwd=str(workspace),
                tools=_CURATED[name] if options.tools == "curated" else None,
            )
        )
    return configs


def _servers(task: Task, workspace: Path, options: RunOptions) -> list[MCPConnection]:
    return [MCPConnection.from_config(c) for c in server_configs(task, workspace, options)]


async def count_tools(task: Task, options: RunOptions) -> tuple[int, dict[str, int], str]:
    """Start ``task``'s servers once in a throwaway workspace and count the tools they offer.

    Args:
        task: A task whose servers are counted (every task gets the same servers).
        options: Shared settings (``tools`` decides which servers and tools).

    Returns:
        See `tool_count_line`: the total, the count per server, and a line to print.

    Raises:
        ServerConnectionError: A server did not start (a benchmark short of a server measures nothing).
    """
    root = Path(tempfile.mkdtemp(prefix="nexthop-bench-count-"))
    try:
        workspace = root / "work"
        workspace.mkdir()
        task.setup(workspace)
        async with ServerGroup(_servers(task, workspace, options), strict=True) as group:
            tools = await group.list_tools()
    finally:
        _remove(root)
    return tool_count_line(t.server for t in tools)


_REPORTED_POLICIES = frozenset(
    {
        "doom_loop",
        "failed_write_check",
        "completion_check",
        "text_replies",
        "known_failures",
        "repeated_reads",
        "repeated_writes",
    }
)
"""Policies whose records an outcome lists: the ones that steer a run (narrowing and retries leave many more)."""


async def _run_nexthop(task: Task, workspace: Path, model: Model, options: RunOptions) -> dict[str, Any]:
    # Never the user's own pins; the wall-time cap is nexthop's own budget, so a slow run
    # still returns its partial trajectory (steps, tokens) instead of being cut off.
    policy = PolicyConfig(pin_file=workspace.parent / "pins.json", max_wall_time_s=options.timeout_s)
    if not options.retry_handling:
        policy = policy.model_copy(update={"call_retries": 0, "transient_retries": 0})
    if options.narrow_tools != "default":
        policy = policy.model_copy(update={"narrow_tools_over": options.narrow_tools})
    if options.policy:  # validated, unlike model_copy: a bad value fails here, not mid-run
        policy = PolicyConfig.model_validate({**policy.model_dump(), **dict(options.policy)})
    host = AgentHost(
        model=model, servers=_servers(task, workspace, options), max_steps=options.max_steps, policy=policy
    )
    async with host:
        result: RunResult = await host.run(task.prompt, retries=options.retries)
    if options.keep:  # what the model did, beside the state it left, for reading a failure
        (workspace.parent / "trajectory.json").write_text(result.trajectory.model_dump_json(indent=1))
        for attempt in result.attempts:
            (workspace.parent / f"attempt-{attempt.index}.json").write_text(attempt.model_dump_json(indent=1))
    return {
        "stop": result.termination.kind,
        "steps": len(result.trajectory.steps) + sum(len(a.trajectory.steps) for a in result.attempts),
        "wall_s": result.wall_time_s,
        "usage": result.usage,
        "detail": result.result or result.termination.detail,
        "events": tuple(
            f"{step.index}:{r.policy}:{r.event}"
            for step in result.trajectory.steps
            for r in step.records
            if r.policy in _REPORTED_POLICIES
        ),
    }


async def _run_react(task: Task, workspace: Path, llm: Any, options: RunOptions) -> dict[str, Any]:
    from benchmarks.tasks.react_baseline import ReActAgent

    async with ServerGroup(_servers(task, workspace, options)) as group:
        agent = ReActAgent(llm, group, max_steps=options.max_steps, max_wall_time_s=options.timeout_s)
        result = await agent.run(task.prompt)
    return {
        "stop": result.stop,
        "steps": len(result.steps),
        "wall_s": result.wall_time_s,
        "usage": result.usage,
        "detail": result.error or result.answer,
    }


async def run_task(task: Task, agent: AgentName, brain: Any, options: RunOptions) -> Outcome:
    """Run ``task`` with ``agent`` in a fresh workspace and judge the state it leaves.

    Args:
        task: The task.
        agent: ``nexthop`` (``brain`` is a nexthop `Model`) or ``react`` (``brain`` is a `Llama`).
        brain: The model, loaded once by the caller and reused across tasks.
        options: Shared settings.

    Returns:
        The outcome; a crash or a timeout is an outcome too (``stop`` says which), never an exception.
    """
    # The same path every time: it shows up in the servers' messages (an error names the
    # allowed directory), and a random one made greedy runs of one task differ from run to run.
    root = workspace_root(task.id, agent)
    _remove(root)
    root.mkdir(parents=True)
    workspace = root / "work"
    workspace.mkdir()
    task.setup(workspace)
    start = time.perf_counter()
    run: dict[str, Any] = {"stop": "timeout", "steps": 0, "wall_s": options.timeout_s, "usage": None, "detail": ""}
    try:
        # A backstop (both agents stop themselves); each retry is a run with its own wall-time cap.
        with anyio.move_on_after((options.retries + 1) * (options.timeout_s + _GRACE_S)):
            if agent == "nexthop":
                run = await _run_nexthop(task, workspace, brain, options)
            else:
                run = await _run_react(task, workspace, brain, options)
    except Exception as e:  # a crashed run is a failed task, and the benchmark goes on
        run = {**run, "stop": "crash", "wall_s": time.perf_counter() - start, "detail": f"{type(e).__name__}: {e}"}
    problem = task.check(workspace)
    if options.keep:
        print(f"  workspace kept: {workspace}", file=sys.stderr)
    else:
        _remove(root)
    usage = run["usage"]
    return Outcome(
        task=task.id,
        category=task.category,
        agent=agent,
        passed=problem is None,
        problem=problem or "",
        stop=run["stop"],
        steps=run["steps"],
        wall_s=round(run["wall_s"], 2),
        input_tokens=usage.input_tokens if usage else 0,
        cached_input_tokens=usage.cached_input_tokens if usage else 0,
        output_tokens=usage.output_tokens if usage else 0,
        detail=" ".join(str(run["detail"]).split())[:300],
        policy_events=tuple(run.get("events", ())),
    )


def workspace_root(task_id: str, agent: AgentName) -> Path:
    """Where a run of ``task_id`` by ``agent`` works: a fixed path under the temp folder, emptied before each run.

    Fixed so that a greedy model meets the same text every time; two benchmark processes
    never run the same task with the same agent at once.
    """
    return Path(tempfile.gettempdir()) / "nexthop-bench" / agent / task_id


def _remove(root: Path) -> None:
    import shutil

    shutil.rmtree(root, ignore_errors=True)

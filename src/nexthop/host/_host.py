"""`AgentHost`: connects to MCP servers, registers Python tools, and runs tasks."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from nexthop._exceptions import ConfigError
from nexthop._recalled import RecallConfig, RecalledRun
from nexthop._toolset import ToolDef, Toolset
from nexthop._trajectory import RunResult, Trajectory
from nexthop.clients._callbacks import ClientHooks, Elicitor, SamplingApprover, bind_run
from nexthop.clients._config import ServerConfig
from nexthop.clients._connection import MCPConnection
from nexthop.clients._group import ServerGroup
from nexthop.host._approval import Approver
from nexthop.host._dispatch import CallChecks
from nexthop.host._loop import Emit, RunEvent, RunSetup, run_loop
from nexthop.host._recall import recall as recall_runs
from nexthop.host._recall import resolve_recall
from nexthop.host._retry import model_reflection, run_with_retries
from nexthop.host._sandbox import SandboxConfig
from nexthop.host._server_events import RunServerEvents, model_sampler
from nexthop.host._synthesis import require_sandbox, synthesis_toolsets
from nexthop.host._tools import FunctionTool, FunctionToolset
from nexthop.host._tracing import TracedModel, agent_span, record_run
from nexthop.host._validation import ArgumentValidator
from nexthop.host._views import RunHandle, ServerState
from nexthop.models._model import Model, ModelSettings
from nexthop.policies._base import Policy, RunPolicy
from nexthop.policies._budget import StepBudget
from nexthop.policies._config import PolicyConfig
from nexthop.policies._registry import start_policies
from nexthop.policies._taint import Taint

if TYPE_CHECKING:
    from nexthop.host._store import RunStore

__all__ = ["DEFAULT_INSTRUCTIONS", "DEFAULT_MAX_STEPS", "AgentHost", "Observer"]

DEFAULT_MAX_STEPS = 30
DEFAULT_INSTRUCTIONS = (
    "You are nexthop, an agent that completes the user's task by calling tools. "
    "At each step, think briefly about what the observations so far show, then call the one tool "
    "that moves the task forward. If a tool fails, read its error and adapt: fix the arguments or try "
    "another way. When the task is done, call `finish` with the final answer."
)


Observer = Callable[[RunEvent], Awaitable[None] | None]
"""A callback that receives each `RunEvent` (action chosen, step done, result) as it happens."""


class AgentHost:
    """An MCP host that reaches a goal by generating each next action from the trajectory.

    Args:
        model: The model that chooses actions (see `model_from_string`).
        servers: MCP servers, as parsed config entries or ready `MCPConnection` objects.
        tools: Python functions (plain or decorated with `tool`) offered beside MCP tools.
        max_steps: Default step budget per run (after agentlib's step budgets).
        strict: Make a server that fails to start fatal (raises `ServerConnectionError`).
        instructions: The system prompt; `DEFAULT_INSTRUCTIONS` when None.
        settings: Model request settings.
        max_observation_chars: Longest tool result shown to the model (characters); the rest is cut.
        observers: Callbacks that receive every `RunEvent` of every run.
        policy: The built-in policies' settings (permissions, abandonment, doom loops,
            budgets, completion check, pinning); see `PolicyConfig` for the defaults.
        policies: Policies of your own (anything with ``start() -> RunPolicy``, e.g. a
            `RunPolicy` instance), consulted after the built-in ones; see docs/policies.md.
        approver: Who is asked when a call needs approval (see `Approver`); with none,
            such calls are denied.
        tool_timeout_s: Per-call timeout for servers whose config sets none (seconds);
            None keeps the built-in default (60 s).
        sandbox: Limits, mounts (the run's roots) and packages of synthesized tools'
            sandbox, used when ``policy.synthesize`` is on (docs/synthesis.md).
        hooks: Answers to servers' questions (sampling policy, elicitor, roots, event
            observers; see `ClientHooks`); sampling is answered by ``model`` unless the
            hooks name another sampler. Default: sampling off, nobody to ask, no roots.
        store: An open `RunStore`: each run is then a durable workflow whose model
            requests, tool calls and approvals are recorded step by step (see
            ``nexthop.host._durable``). None, the default, records nothing.
        recall: Long-term memory for every run (needs ``store``): each run starts with
            digests of the most similar earlier runs in the store (`RecallConfig`); a
            run's own ``recall`` argument overrides it. None, the default, recalls nothing.

    Raises:
        TypeError: An entry of ``policies`` has no ``start`` method.
        ConfigError: ``tool_timeout_s`` is not a positive number of seconds; or synthesis
            is on and bubblewrap is missing (the message says how to install it).

    Use it as an async context manager: entering connects all servers concurrently;
    leaving disconnects them and leaves no child processes.

    Example:
        ```python
        async with AgentHost(model=model_from_string("local"), servers=config.servers) as host:
            result = await host.run("list the files in the data folder")
        ```
    """

    def __init__(
        self,
        *,
        model: Model,
        servers: Sequence[ServerConfig | MCPConnection] = (),
        tools: Sequence[FunctionTool | Callable[..., Any]] = (),
        max_steps: int = DEFAULT_MAX_STEPS,
        strict: bool = False,
        instructions: str | None = None,
        settings: ModelSettings | None = None,
        max_observation_chars: int = 16_000,
        observers: Sequence[Observer] = (),
        policy: PolicyConfig | None = None,
        policies: Sequence[Policy] = (),
        approver: Approver | None = None,
        tool_timeout_s: float | None = None,
        sandbox: SandboxConfig | None = None,
        hooks: ClientHooks | None = None,
        store: RunStore | None = None,
        recall: RecallConfig | None = None,
    ) -> None:
        self.store = store
        self.recall = recall
        self.policy = policy or PolicyConfig()
        for p in policies:
            if not isinstance(p, Policy):  # pyright: ignore[reportUnnecessaryIsInstance] - callers may be untyped
                raise TypeError(f"policies takes objects with a start() method (a Policy), got {p!r}")
        self.policies: list[Policy] = list(policies)
        self.hooks = hooks or ClientHooks()
        if tool_timeout_s is not None and not tool_timeout_s > 0:  # `not >` also refuses NaN
            raise ConfigError(f"the tool timeout must be a positive number of seconds, got {tool_timeout_s}")
        connections = [
            s
            if isinstance(s, MCPConnection)
            else MCPConnection.from_config(s, default_timeout_s=tool_timeout_s, hooks=self.hooks)
            for s in servers
        ]
        for c in connections:
            c.lend_hooks(self.hooks)  # a ready connection without callbacks of its own answers as this host
        self.model = model
        self.servers = ServerGroup(connections, strict=strict)
        self.functions = FunctionToolset(tools)
        self.max_steps = max_steps
        self.instructions = instructions or DEFAULT_INSTRUCTIONS
        self.settings = settings or ModelSettings()
        self.hooks.sampler = self.hooks.sampler or model_sampler(TracedModel(model), self.settings)
        self.max_observation_chars = max_observation_chars
        self.observers: list[Observer] = list(observers)
        self.approver = approver
        self.sandbox = require_sandbox(sandbox) if self.policy.synthesize else None  # never unsandboxed
        self._validator = ArgumentValidator()
        self._preparing: anyio.abc.TaskGroup | None = None  # Model.prepare's, from enter to exit
        # Servers marked untrusted in their config taint a run once their output is read.
        self._untrusted = frozenset(s.name for s in servers if not isinstance(s, MCPConnection) and s.untrusted)

    async def __aenter__(self) -> AgentHost:
        # The model gets ready (the embedded one loads its GGUF, 1-4 s) while the servers
        # start. The task group is held until exit, as ServerGroup holds its own: the
        # servers' scopes open inside it.
        self._preparing = await anyio.create_task_group().__aenter__()
        self._preparing.start_soon(self._prepare_model)
        try:
            await self.servers.__aenter__()
        except BaseException:
            await self._prepared()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.servers.__aexit__(exc_type, exc, tb)
        finally:
            try:
                await self._prepared()  # not shielded: its scope must be the task's innermost to close
            finally:
                with anyio.CancelScope(shield=True):
                    await self.model.aclose()

    async def _prepare_model(self) -> None:
        with contextlib.suppress(Exception):  # Model.prepare's contract: the first request raises it again
            await self.model.prepare()

    async def _prepared(self) -> None:
        """Wait for `_prepare_model` (a load in a worker thread cannot be cut short) and close its group."""
        group, self._preparing = self._preparing, None
        if group is not None:
            await group.__aexit__(None, None, None)

    async def list_tools(self) -> list[ToolDef]:
        """Every tool on offer now, before any policy withholds some: Python tools, then servers'.

        Returns:
            Tool definitions; MCP tools are namespaced ``<server>__<tool>`` and carry ``server``.
        """
        tools: list[ToolDef] = []
        for toolset in self.toolsets:
            tools.extend(await toolset.list_tools())
        return tools

    def server_states(self) -> list[ServerState]:
        """Each configured server's state, in config order: name, ``connected``/``failed``/..., error."""
        return [
            ServerState(
                name=c.name,
                state=c.state,
                error=c.error,
                protocol_version=c.protocol_version,
                last_error=c.last_error,
                restarts=c.restarts,
                capabilities=c.capabilities,
            )
            for c in self.servers.connections.values()
        ]

    @property
    def toolsets(self) -> list[Toolset]:
        """The sources of tools, in the order they are offered: Python tools, then each server.

        Each server is its own toolset, so the loop routes a call by its tool's name
        once (to the toolset that listed it), never by splitting the prefix again.
        """
        return [self.functions, *self.servers.connections.values()]

    def _start_policies(self, max_steps: int | None = None) -> list[RunPolicy]:
        """Fresh state for one run of every policy, in the order the loop consults them.

        The step budget comes first, then the built-in policies (`start_policies`), the
        taint policy when a server is marked untrusted, then the user's ``policies``.
        """
        return [
            StepBudget(max_steps or self.max_steps),
            *start_policies(self.policy),
            *([Taint(self._untrusted)] if self._untrusted else []),
            *(p.start() for p in self.policies),
        ]

    async def run(
        self,
        task: str,
        *,
        context: str = "",
        memory: Trajectory | None = None,
        max_steps: int | None = None,
        on_event: Observer | None = None,
        approver: Approver | None = None,
        retries: int = 0,
        elicitor: Elicitor | None = None,
        approve_sampling: SamplingApprover | None = None,
        run_id: str | None = None,
        recall: bool | RecallConfig | None = None,
    ) -> RunResult:
        """Run a task to its end, and again, up to ``retries`` times, while it stops early.

        Args:
            task: The goal, in plain language.
            context: What the caller already knows; shown to the model with the task.
            memory: The trajectory of an earlier run (this host's, or one handed over by a
                delegating agent); the model is told what was tried and what failed.
            max_steps: Step budget for this run; defaults to the host's ``max_steps``.
            on_event: A callback for this run's events, besides the host's observers.
            approver: Who is asked for this run's approvals, instead of the host's
                (a served host asks the MCP client that handed it the task).
            retries: Attempts allowed after the first when a run stops early (a doom loop,
                an abandonment, a spent step, token or wall-time budget); each retry gets
                the failed attempt as memory, with a short reflection the model wrote on
                what went wrong (Reflexion, arXiv 2303.11366). Budgets apply per attempt.
                0, the default, never retries.
            elicitor: Who this run's servers' elicitations go to, instead of the host's
                (a served host forwards them to its calling client).
            approve_sampling: Who approves this run's servers' sampling under ``ask``.
            run_id: With a store, the run's id (a new one by default); the id of a run
                that finished returns its recorded result without running anything.
            recall: Offer the model the most similar earlier runs in the store (their task,
                outcome, calls that worked, errors met) with the task: True, or a
                `RecallConfig`; False turns it off; None, the default, follows the host's
                ``recall``. The ones used are on ``trajectory.recalled`` (run ids, scores).

        Returns:
            The `RunResult`, whatever the outcome: an early stop (step budget, model
            error) is a termination reason with the partial trajectory, not an exception.
            After retries, ``attempts`` lists the earlier attempts.

        Raises:
            ConfigError: ``retries`` is negative, or recall is asked for without a store.
            The caller's cancellation, after the run was recorded as ``cancelled`` and
            observers were told.
        """
        if retries < 0:
            raise ConfigError(f"retries must be 0 or more, got {retries}")
        recalling = resolve_recall(recall, self.recall)
        if recalling is not None and self.store is None:
            raise ConfigError("recalling earlier runs needs a run store (AgentHost(store=...)); none is open")
        _durable: Any = None
        if self.store is not None:
            from nexthop.host import _durable  # DBOS loads only when a store is used

            if not _durable.recording():  # outside the workflow: become one
                callbacks = _durable.RunCallbacks(on_event, approver, elicitor, approve_sampling)
                return await _durable.run(
                    self.store, self, task, context=context, memory=memory, max_steps=max_steps,
                    retries=retries, run_id=run_id, callbacks=callbacks, recall=recalling,
                )  # fmt: skip
        observers = [*self.observers, *([on_event] if on_event else [])]

        async def emit(event: RunEvent) -> None:
            for observer in observers:
                out = observer(event)
                if inspect.isawaitable(out):
                    await out

        synthesized = synthesis_toolsets(self.sandbox, self.list_tools, task=task)  # one run's written tools
        # Inside the run's workflow (a store is open): found once, for every attempt, as a recorded step.
        recalled: tuple[RecalledRun, ...] = await recall_runs(task, recalling) if recalling is not None else ()

        async def attempt(memory: Trajectory | None, emit: Emit) -> RunResult:
            policies = self._start_policies(max_steps)
            setup = RunSetup(
                model=TracedModel(self.model),  # each request a `chat` span when tracing is on
                toolsets=[*self.toolsets, *synthesized],
                instructions=self.instructions,
                settings=self.settings,
                checks=CallChecks(
                    policies,
                    approver or self.approver,
                    self._validator,
                    self.max_observation_chars,
                    call_retries=self.policy.call_retries,
                ),
                policies=policies,
                redraws=self.policy.redraws,
            )
            trajectory = Trajectory(task=task, context=context, memory=memory, recalled=recalled)
            # Servers' sampling, elicitation and logs during this run are the run's (see RunServerEvents).
            events = RunServerEvents(
                trajectory, self.policy.max_tokens, elicitor=elicitor, approve_sampling=approve_sampling
            )
            setup.server_events = events.drain
            if self.store is not None:
                setup = _durable.recorded_setup(setup)
            with bind_run(events.binding):
                return await run_loop(trajectory, setup, emit)

        with agent_span(self.model.name, run_id) as span:  # the run's `invoke_agent` span (tracing on)
            if retries == 0:
                return record_run(span, await attempt(memory, emit))
            model = TracedModel(self.model)
            model = _durable.recorded_model(model) if self.store is not None else model
            reflect = model_reflection(model, self.instructions, self.settings)
            result = await run_with_retries(attempt, memory=memory, retries=retries, reflect=reflect, emit=emit)
            return record_run(span, result)

    @contextlib.asynccontextmanager
    async def iter(self, task: str, *, max_steps: int | None = None) -> AsyncGenerator[RunHandle]:
        """Run a task in the background and stream its events.

        Example:
            ```python
            async with host.iter("summarise notes.txt") as run:
                async for event in run:
                    print(event.kind)
            print(run.result.status)
            ```

        Leaving the block early cancels the run; its result is then ``cancelled``.
        """
        send, receive = anyio.create_memory_object_stream[RunEvent](max_buffer_size=1000)
        handle = RunHandle(receive)

        async def deliver(event: RunEvent) -> None:
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await send.send(event)  # a consumer that stopped listening must not stop the run

        async def drive(*, task_status: anyio.abc.TaskStatus[anyio.CancelScope]) -> None:
            # The run gets a scope of its own, so cancelling it leaves the caller's body running.
            with anyio.CancelScope() as scope:
                task_status.started(scope)
                async with send:
                    handle.result = await self.run(task, max_steps=max_steps, on_event=deliver)

        async with anyio.create_task_group() as tg:
            handle._scope = await tg.start(drive)  # pyright: ignore[reportPrivateUsage]
            try:
                yield handle
            finally:
                if handle.result is None:  # the caller left early: stop the run rather than wait for it
                    handle.cancel()

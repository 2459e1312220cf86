"""Durable runs on DBOS: a run is a workflow; each model request, tool call and approval is a recorded step.

The loop is not rewritten: the engine wraps it at its seams. `recorded_setup` puts a
`_RecordedModel` in front of ``Model.request``, a `_RecordedToolset` in front of each
toolset's ``call_tool`` and a recorded approver in front of the approver, each a DBOS
step whose result is written before the loop sees it (after DBOS's durable workflows,
https://docs.dbos.dev/architecture). Run again with the same id, the workflow gets
every recorded result back without calling the model or the tool again, so a run
killed with SIGKILL goes on from its last recorded step (`resume`).

Step ids must come out the same on every replay, yet one step's calls run
concurrently and may reach their tools in any order. So when a model step returns,
one DBOS step id per call is reserved in call order (``DBOS.reserve_step``), and each
call later runs at its own reserved id, whatever the order they arrive in.

A tool call in flight when the process died has no recorded result: it runs again on
resume. Tool calls are therefore *at least once*; `in_flight` names them.

Each step is recorded through `Ledger.record` (`nexthop.host._steps`): the workflow
reads which step ids were recorded once, when it starts; those replay, and any other
step's result is written in one statement on a SQLite store (benchmarks/bench_store.py).
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

import anyio
from dbos import DBOS, SetWorkflowID

from nexthop._exceptions import ConfigError, ModelError, NexthopError
from nexthop._recalled import RecallConfig
from nexthop._toolset import FINISH_TOOL, ToolDef, Toolset
from nexthop._trajectory import Observation, RunResult, ToolCall, Trajectory
from nexthop.host._approval import ApprovalDecision, ApprovalRequest, Approver
from nexthop.host._loop import RunSetup
from nexthop.host._steps import Ledger, open_ledger
from nexthop.host._store import QUEUE, RUN_WORKFLOW, RunStore, trajectory_of
from nexthop.host._tracing import carrier, join, leave
from nexthop.models._model import Model, ModelRequest, ModelResponse

__all__ = [
    "RunCallbacks",
    "enqueue",
    "recover_dead_workers",
    "recorded_model",
    "recorded_setup",
    "recording",
    "resume",
    "run",
]

_ATTACH_WAIT_S = 60.0  # how long a run taken from the queue waits for its host (seconds)


@dataclass(frozen=True)
class RunCallbacks:
    """What a run started in this process reports to and asks; never recorded (a resumed run gets new ones)."""

    on_event: Any = None
    approver: Approver | None = None
    elicitor: Any = None
    approve_sampling: Any = None


_RECORDING: ContextVar[Ledger | None] = ContextVar("nexthop_recording", default=None)


def recording() -> bool:
    """True inside a durable run's workflow (the seams record there)."""
    return _RECORDING.get() is not None


def attach(store: RunStore, host: Any) -> None:
    """Make ``store`` this process's store and ``host`` the one that runs its workflows."""
    store.host = host
    store.attached.set()


def _spec(
    host: Any, task: str, context: str, memory: Trajectory | None, max_steps: int | None, retries: int,
    recall: RecallConfig | None = None,
) -> dict[str, Any]:  # fmt: skip
    return {
        **({"recall": recall.model_dump(mode="json")} if recall is not None else {}),
        "model": host.model.name,  # for `nexthop resume` to offer the same model; the workflow ignores it
        "task": task,
        "context": context,
        "memory": memory.model_dump(mode="json", exclude_defaults=True) if memory is not None else None,
        "max_steps": max_steps,
        "retries": retries,
        "trace": carrier(),  # the caller's trace context: a run another worker takes joins its trace
    }


@DBOS.workflow(name=RUN_WORKFLOW)
async def _run_workflow(spec: dict[str, Any]) -> dict[str, Any]:
    """The workflow: one `AgentHost.run` with its seams recorded; returns the `RunResult` as JSON."""
    store = RunStore.current
    if store is None:
        raise ConfigError("no run store is open in this process")
    # A worker may take a queued run the moment DBOS starts, before `nexthop serve` has attached its host.
    with anyio.fail_after(_ATTACH_WAIT_S):
        await store.attached.wait()
    callbacks: RunCallbacks = store.callbacks.pop(DBOS.workflow_id or "", None) or RunCallbacks()
    token = _RECORDING.set(await open_ledger(store.steps, DBOS.workflow_id or ""))
    joined = join(spec.get("trace"))
    try:
        start = trajectory_of(spec)
        result: RunResult = await store.host.run(
            start.task,
            context=start.context,
            memory=start.memory,
            max_steps=spec.get("max_steps"),
            run_id=DBOS.workflow_id,  # names the run's span; the store's path is not taken in here
            retries=spec.get("retries", 0),
            on_event=callbacks.on_event,
            approver=callbacks.approver,
            elicitor=callbacks.elicitor,
            approve_sampling=callbacks.approve_sampling,
            recall=RecallConfig.model_validate(spec["recall"]) if spec.get("recall") else False,  # as recorded
        )
    finally:
        _RECORDING.reset(token)
        leave(joined)
    # Without defaults (every reader validates it back into a RunResult): about half the size.
    return result.model_dump(mode="json", exclude_defaults=True)


async def run(
    store: RunStore,
    host: Any,
    task: str,
    *,
    context: str = "",
    memory: Trajectory | None = None,
    max_steps: int | None = None,
    retries: int = 0,
    run_id: str | None = None,
    callbacks: RunCallbacks | None = None,
    recall: RecallConfig | None = None,
) -> RunResult:
    """Run a task as a workflow in this process; with the id of a finished run, its recorded result comes back.

    Finished runs past the store's retention are deleted afterwards.
    """
    attach(store, host)
    run_id = run_id or uuid.uuid4().hex[:16]
    if store.config.role == "worker" and not store.config.is_sqlite:
        result = await enqueue(
            store, host, task, context=context, memory=memory, max_steps=max_steps, retries=retries, run_id=run_id,
            recall=recall,
        )  # fmt: skip
        await _replay_events(result, callbacks)
        return result
    store.callbacks[run_id] = callbacks or RunCallbacks()
    with SetWorkflowID(run_id):
        out = await _run_workflow(_spec(host, task, context, memory, max_steps, retries, recall))
    await store.prune()
    return RunResult.model_validate(out)


async def enqueue(
    store: RunStore, host: Any, task: str, *, context: str = "", memory: Trajectory | None = None,
    max_steps: int | None = None, retries: int = 0, run_id: str, recall: RecallConfig | None = None,
) -> RunResult:  # fmt: skip
    """Put a run on the workers' queue (run by whichever worker is free) and wait for its result."""
    attach(store, host)
    with SetWorkflowID(run_id):
        handle = await DBOS.enqueue_workflow_async(
            QUEUE, _run_workflow, _spec(host, task, context, memory, max_steps, retries, recall)
        )
    out = await handle.get_result(polling_interval_sec=0.2)
    return RunResult.model_validate(out)


async def resume(store: RunStore, host: Any, run_id: str, callbacks: RunCallbacks | None = None) -> RunResult:
    """Continue an interrupted run from its last recorded step, in this process.

    Raises:
        ConfigError: No such run; it already finished; or its process still runs it.
    """
    attach(store, host)
    status = await store.status(run_id)
    if status is None:
        raise ConfigError(f"no run {run_id!r} in the run store; `nexthop runs` lists the recent ones")
    if status.status not in ("PENDING", "CANCELLED", "ENQUEUED"):
        raise ConfigError(f"run {run_id} has already finished ({status.status.lower()}); there is nothing to resume")
    if status.status == "PENDING" and status.executor_id and store.is_alive(status.executor_id):
        raise ConfigError(f"run {run_id} is still running in another process ({status.executor_id})")
    store.callbacks[run_id] = callbacks or RunCallbacks()
    # Onto this process's own queue, so this process (with its host and callbacks) runs it.
    handle = await DBOS.resume_workflow_async(run_id, queue_name=await store.own_queue())
    out = await handle.get_result(polling_interval_sec=0.1)
    return RunResult.model_validate(out)


async def _replay_events(result: RunResult, callbacks: RunCallbacks | None) -> None:
    """Tell the caller's observer about a queued run's steps and result, once it is done (it ran elsewhere)."""
    if callbacks is None or callbacks.on_event is None:
        return
    for event in (*result.steps, result):
        out = callbacks.on_event(event)
        if inspect.isawaitable(out):
            await out


async def recover_dead_workers(store: RunStore, interval_s: float = 1.0) -> None:
    """Forever: hand the runs of workers that died (their presence lock is free) back to the queue.

    Any live worker may do it; DBOS's recovery re-enqueues, and only one worker can
    dequeue a run, so two workers recovering the same dead one run each run once.
    """
    while True:
        pending = await DBOS.list_workflows_async(
            name=RUN_WORKFLOW, status="PENDING", load_input=False, load_output=False
        )
        owners = {s.executor_id for s in pending if s.executor_id and s.executor_id.startswith("worker-")}
        for owner in owners - {store.executor_id}:
            if not await anyio.to_thread.run_sync(store.is_alive, owner):
                await anyio.to_thread.run_sync(DBOS._recover_pending_workflows, [owner])  # pyright: ignore[reportPrivateUsage]
        await anyio.sleep(interval_s)


def recorded_setup(setup: RunSetup) -> RunSetup:
    """``setup`` with its model, toolsets and approver recorded (inside a durable run only)."""
    ledger = _RECORDING.get()
    if ledger is None:
        return setup
    setup.model = _RecordedModel(setup.model, ledger)
    setup.toolsets = [_RecordedToolset(t, ledger) for t in setup.toolsets]
    setup.checks = replace(setup.checks, approver=_recorded_approver(setup.checks.approver, ledger))
    return setup


def recorded_model(model: Model, step_name: str = "reflection") -> Model:
    """``model`` with each request recorded, for requests outside the loop (a retry's reflection)."""
    ledger = _RECORDING.get()
    return model if ledger is None else _RecordedModel(model, ledger, step_name)


class _RecordedModel(Model):
    """A model whose every request is a DBOS step; each response reserves its calls' step ids."""

    def __init__(self, inner: Model, ledger: Ledger, step_name: str = "model") -> None:
        self.inner = inner
        self.name = inner.name
        self.ledger = ledger
        self.step_name = step_name

    async def request(self, request: ModelRequest) -> ModelResponse:
        index = len(request.trajectory.steps) + 1

        async def ask() -> dict[str, Any]:
            try:
                response = await self.inner.request(request)
            except NexthopError as e:  # recorded too, so a replay ends the same way
                return {"step": index, "error": str(e)}
            return {"step": index, "response": response.model_dump(mode="json", exclude_defaults=True)}

        out = await self.ledger.record(self.step_name, ask)
        if "error" in out:
            raise ModelError(out["error"])
        response = ModelResponse.model_validate(out["response"])
        for call in response.tool_calls:
            if call.name != FINISH_TOOL.name:
                self.ledger.slots.setdefault(call.id, []).append(DBOS.reserve_step())
        return response

    def tool_list_share(self, tools: Sequence[ToolDef]) -> float | None:
        """``inner``'s answer: deterministic from the tools, so a replay narrows as the first run did."""
        return self.inner.tool_list_share(tools)


class _RecordedToolset:
    """A toolset whose calls are DBOS steps at the ids reserved for them; listing stays live."""

    def __init__(self, inner: Toolset, ledger: Ledger) -> None:
        self.inner = inner
        self.ledger = ledger

    async def list_tools(self) -> list[ToolDef]:
        return await self.inner.list_tools()

    async def call_tool(self, call: ToolCall) -> Observation:
        async def run() -> dict[str, Any]:
            return (await self.inner.call_tool(call)).model_dump(mode="json", exclude_defaults=True)

        # Not reserved (the model step did not list it): the next id will do.
        out = await self.ledger.record("tool", run, self.ledger.take(call.id))
        return Observation.model_validate(out)


def _recorded_approver(approver: Approver | None, ledger: Ledger) -> Approver | None:
    if approver is None:
        return None

    async def ask(request: ApprovalRequest) -> ApprovalDecision:
        async def decide() -> dict[str, Any]:
            return (await approver(request)).model_dump(mode="json")

        return ApprovalDecision.model_validate(await ledger.record("approval", decide))

    return ask

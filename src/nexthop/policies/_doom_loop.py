"""Doom-loop detection: notice a run going round in circles, say so once, then stop it.

After PraisonAI's doom-loop detection: a model that repeats itself rarely breaks out
unaided, but often does when told plainly what it is doing. Seven shapes count, each
over ``n`` repeats (the functions behind them are in `nexthop.policies._loop_shapes`):

- ``same_call``: the same tool with the same arguments ``n`` calls in a row;
- ``similar_call``: the same tool with near-identical arguments ``n`` calls in a row
  (normalised JSON, difflib ratio at least 0.9 over words);
- ``same_error``: ``n`` consecutive failed calls with identical error text (whatever
  the tools or arguments, e.g. retrying with cosmetic changes); a skipped call
  (`classify` says ``skipped``) neither extends nor breaks the streak, so "read_file fails,
  its repeat is skipped, read_text_file fails the same way" counts two;
- ``no_new_information``: ``n`` consecutive steps whose results were all seen
  earlier in the run;
- ``cycle``: steps repeating with a period of 2 or 3 (read, edit, read, edit ...) for
  ``n`` periods, the arguments near-identical or only growing;
- ``accretion``: ``n`` successful writes by one tool in a row, each the previous one plus
  a little (appending a word each time);
- ``same_thought``: the same thought text ``n`` steps in a row while no call breaks new
  ground (seen one step late: a step's thought is on the trajectory only after it).

The first detection is a hint shown with the step's observations, and the tools it
names are withheld from the next step's offer when the step's calls succeeded (their
results are in front of the model; after a failure the fix may be the same tool with
other arguments): a small model under a grammar that still
offers the looping call tends to make it again whatever the hint says, while one that
cannot must do something else. A detection in a later step stops the run with
``doom_loop``, except:

- a stop never follows a step whose calls all succeeded for a *repeat* shape
  (``same_call``, ``similar_call``): a repeat that succeeded is judged by what it
  returned (``no_new_information``), not by being a repeat (issue 13);
- a failure the same call may not meet again (`classify`: a timeout, "retry",
  "temporarily unavailable", a rate limit, a 5xx-like error, a result marked retryable)
  is excused: it counts toward no shape, and neither does the repeat that retries it,
  for up to ``transient_retries`` such failures of a tool in a row. Before the retry is
  dispatched the host waits an exponential backoff (tenacity's ``wait_exponential``,
  0.5 s doubling to 8 s, less the time the model took), recorded on the retry's step.
  Giving up on a flaky tool is probabilistic abandonment's call (after Autono), which
  draws on every failure: the two never count the same failure;
- when the run's writes succeeded and nothing failed since, the would-be stop is
  first a hint that the work seems done and ``finish`` is due (issue 13); the next
  detection stops.

Calls of ``finish`` are not counted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import tenacity

from nexthop._sanitize import one_line
from nexthop._toolset import FINISH_TOOL, ToolDef
from nexthop._trajectory import Observation, PolicyRecord, ToolCall
from nexthop.policies._base import ALLOW, GO_ON, CallVerdict, RunPolicy, RunView, ToolOffer, Verdict
from nexthop.policies._loop_hints import FINISH_HINT, HINTS, LoopPattern, detail
from nexthop.policies._loop_shapes import CallShape, accretes, cycle_matches, normal_thought, similar_arguments
from nexthop.policies._transient import BACKOFF_MAX_S, BACKOFF_MULTIPLIER_S, Outcome, WriteTools, backoff_s, classify

__all__ = ["DoomLoop", "LoopPattern"]

_REPEATS: frozenset[LoopPattern] = frozenset({"same_call", "similar_call"})
"""Shapes about a call being repeated: never a stop after a step whose calls all succeeded."""

_BACKOFF = tenacity.wait_exponential(multiplier=BACKOFF_MULTIPLIER_S, max=BACKOFF_MAX_S)
"""The pause before retry k of a transient failure: 0.5 s, 1, 2, 4, then 8 s (seconds)."""

_PRIORITY: tuple[LoopPattern, ...] = (
    "same_call",
    "same_error",
    "accretion",
    "cycle",
    "similar_call",
    "no_new_information",
    "same_thought",
)
"""Which shape a hint or stop names when several are seen at once: the most specific first."""

_Counted = tuple[CallShape, Observation, Outcome, bool]
"""A call that counts toward the shapes: its shape, observation, outcome, and whether it was a write that succeeded."""

_MEMORY = 64
"""Earlier calls kept to tell a call that breaks new ground (calls)."""


class _Streak:
    """How many times in a row the same key came up, and the tool that last did."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.count = 0
        self.tool = ""

    def see(self, key: str | None, tool: str) -> None:
        if key is None:
            self.key, self.count = None, 0
            return
        self.count = self.count + 1 if key == self.key else 1
        self.key, self.tool = key, tool


class _CallStreak:
    """Consecutive calls each near-identical to the one before; ``exact`` while all were identical."""

    def __init__(self) -> None:
        self.last: CallShape | None = None
        self.count = 0
        self.exact = True

    def see(self, shape: CallShape) -> None:
        last = self.last
        if last is not None and similar_arguments(last, shape):
            self.count += 1
            self.exact = self.exact and last.key == shape.key
        else:
            self.count, self.exact = 1, True
        self.last = shape


class DoomLoop(RunPolicy):
    """One run's loop counters.

    Args:
        n: Repeats that make a loop (at least 2; `PolicyConfig.doom_loop_n`, default 3).
        transient_retries: Transient failures of one tool in a row that are excused as
            retries (5 by default; 0 counts every failure, as before issue 13).
        backoff: Tenacity wait strategy for the pause before a retry (seconds).

    The hint and the stop leave a `PolicyRecord` (``event`` ``hint`` or ``stop``) whose
    ``data`` is the evidence: ``{"pattern", "tool", "count"}``; the offer to finish is
    event ``finish_offer``; an excused failure ``transient``
    (``{"tool", "retry", "of"}``); the pause before its retry ``backoff``
    (``{"tool", "attempt", "backoff_s", "wait_s"}``). One hint per run: a model told
    once that it is looping, and looping again, is not recovering.
    """

    name = "doom_loop"

    def __init__(
        self,
        n: int,
        transient_retries: int = 5,
        backoff: tenacity.wait.WaitBaseT = _BACKOFF,
    ) -> None:
        if n < 2:
            raise ValueError(f"doom loop repeats must be at least 2, got {n}")
        if transient_retries < 0:
            raise ValueError(f"transient retries cannot be negative, got {transient_retries}")
        self.n = n
        self.transient_retries = transient_retries
        self.backoff = backoff
        self.hinted_at: int | None = None
        self.finish_offered_at: int | None = None
        self._calls = _CallStreak()
        self._errors = _Streak()
        self._stale = _Streak()
        self._seen: set[str] = set()
        self._steps: deque[tuple[CallShape, ...]] = deque(maxlen=3 * n + 1)
        self._cycles = {2: 0, 3: 0}
        self._grown: dict[str, tuple[CallShape, int]] = {}
        self._grew: tuple[str, int] | None = None
        self._earlier: deque[CallShape] = deque(maxlen=_MEMORY)
        self._novel: dict[int, bool] = {}
        self._transient: dict[str, int] = {}
        self._pending: dict[str, tuple[int, float]] = {}
        self._writes = WriteTools()
        self._wrote = False
        self._failed_since_write = False
        self._withhold: tuple[int, frozenset[str]] | None = None  # (step, tools) after a hint

    def filter_tools(self, view: RunView, tools: Sequence[ToolDef]) -> ToolOffer:
        """Withhold, for one step, the tools the last hint named (see the module docstring)."""
        if self._withhold is None or self._withhold[0] != view.step_index:
            return ToolOffer(tools=tuple(tools))
        return ToolOffer.withholding(tools, self._withhold[1], self.name, view.step_index)

    def check_call(self, view: RunView, call: ToolCall, tool: ToolDef) -> CallVerdict:
        """Note whether the tool writes; ask for the backoff pause when it retries a transient failure."""
        self._writes.note(call.name, tool)
        pending = self._pending.pop(call.name, None)
        if pending is None:
            return ALLOW
        attempt, failed_at = pending
        pause = backoff_s(attempt, self.backoff)
        wait = max(0.0, pause - (view.elapsed_s - failed_at))  # the model's own time counts
        data = {"tool": call.name, "attempt": attempt, "backoff_s": pause, "wait_s": round(wait, 3)}
        return CallVerdict(delay_s=wait, records=(PolicyRecord(policy=self.name, event="backoff", data=data),))

    def after_step(self, view: RunView, calls: Sequence[ToolCall], observations: Sequence[Observation]) -> Verdict:
        pairs = [(c, o) for c, o in zip(calls, observations, strict=False) if c.name != FINISH_TOOL.name]
        if not pairs:
            return GO_ON
        records: list[PolicyRecord] = []
        self._grew = None
        counted: list[_Counted] = []
        withheld = self._withhold[1] if self._withhold and self._withhold[0] == view.step_index else frozenset[str]()
        for call, obs in pairs:
            shape, outcome = CallShape.of(call.name, call.arguments), classify(obs)
            if self._excused(call.name, outcome, view, records):
                continue
            retried = self._transient.pop(call.name, 0) > 0 if outcome != "transient" else False
            if not retried:
                self._calls.see(shape)
            if outcome != "skipped":  # a skip repeats a known failure in other words: the streak goes on through it
                self._errors.see(obs.content if outcome in ("permanent", "transient") else None, call.name)
            # A withheld tool called anyway is a repeat, not a failure of the work: the offer to finish stands.
            wrote = self._track_writes(shape, "ok" if call.name in withheld else outcome)
            counted.append((shape, obs, outcome, wrote))
        if not counted:  # only excused failures: nothing to judge
            return Verdict(records=tuple(records))
        self._see_step(view.step_index, counted)
        found = self._detect(view)
        all_ok = all(classify(o) == "ok" for _, o in pairs)
        return self._answer(view, found, all_ok, records)

    def _excused(self, tool: str, outcome: Outcome, view: RunView, records: list[PolicyRecord]) -> bool:
        """Whether a call is an excused transient failure (within the bound); schedules its retry's pause."""
        if outcome != "transient" or self._transient.get(tool, 0) >= self.transient_retries:
            return False
        retry = self._transient[tool] = self._transient.get(tool, 0) + 1
        self._pending[tool] = (retry, view.elapsed_s)
        data = {"tool": tool, "retry": retry, "of": self.transient_retries}
        records.append(PolicyRecord(policy=self.name, event="transient", data=data))
        return True

    def _track_writes(self, shape: CallShape, outcome: Outcome) -> bool:
        """Writes that succeeded (for accretion and the offer to finish), and failures since; True for a write."""
        if outcome != "ok":
            self._failed_since_write = True
            return False
        if not self._writes.writes(shape.name):
            return False
        self._wrote, self._failed_since_write = True, False
        before = self._grown.get(shape.name)
        chain = before[1] + 1 if before is not None and accretes(before[0], shape) else 1
        self._grown[shape.name] = (shape, chain)
        if chain > 1:
            self._grew = (shape.name, chain)
        return True

    def _see_step(self, index: int, counted: list[_Counted]) -> None:
        """Step-level shapes: staleness, cycles, and whether the step broke new ground."""
        contents = [o.content for _, o, _, _ in counted]
        # A write that succeeded changed something, whatever it answered ("ok" every time).
        stale = not any(wrote for *_, wrote in counted) and all(c in self._seen for c in contents)
        self._stale.see("stale" if stale else None, counted[-1][0].name)
        self._seen.update(contents)
        shapes = tuple(s for s, *_ in counted)
        self._steps.append(shapes)
        steps = list(self._steps)
        for period in self._cycles:
            self._cycles[period] = self._cycles[period] + 1 if cycle_matches(steps, period) else 0
        earlier = list(self._earlier)
        self._novel[index] = any(not any(similar_arguments(e, s) or accretes(e, s) for e in earlier) for s in shapes)
        self._earlier.extend(shapes)

    def _detect(self, view: RunView) -> list[tuple[LoopPattern, str, int]]:
        """Every shape seen now, as ``(pattern, tool, count)``, the most telling first (see `_PRIORITY`)."""
        found: list[tuple[LoopPattern, str, int]] = []
        last = self._calls.last.name if self._calls.last else ""
        if self._calls.count >= self.n:
            found.append(("same_call" if self._calls.exact else "similar_call", last, self._calls.count))
        if self._errors.count >= self.n:
            found.append(("same_error", self._errors.tool, self._errors.count))
        if self._stale.count >= self.n:
            found.append(("no_new_information", self._stale.tool, self._stale.count))
        for period, matches in self._cycles.items():
            if matches >= period * (self.n - 1):
                tools = "/".join(dict.fromkeys(s.name for step in list(self._steps)[-period:] for s in step))
                found.append(("cycle", tools, matches // period + 1))
                break
        if self._grew is not None and self._grew[1] >= self.n:
            found.append(("accretion", *self._grew))
        # The thoughts are those of earlier steps (this one's is not recorded yet): a step that
        # breaks new ground now is progress, whatever the model wrote before it.
        thoughts = 0 if self._novel.get(view.step_index, False) else self._repeated_thought(view)
        if thoughts:
            found.append(("same_thought", last, thoughts))
        return sorted(found, key=lambda f: _PRIORITY.index(f[0]))

    def _repeated_thought(self, view: RunView) -> int:
        """``n`` when the last ``n`` recorded steps share one thought and none after the first broke new ground."""
        steps = view.trajectory.steps[-self.n :]
        if len(steps) < self.n:
            return 0
        thought = normal_thought(steps[0].thought)
        if not thought or any(normal_thought(s.thought) != thought for s in steps[1:]):
            return 0
        return 0 if any(self._novel.get(s.index, True) for s in steps[1:]) else self.n

    def _answer(
        self, view: RunView, found: list[tuple[LoopPattern, str, int]], all_ok: bool, records: list[PolicyRecord]
    ) -> Verdict:
        """The verdict for what was found: the first hint, then an offer to finish, then the stop."""
        if self.hinted_at is None:
            if not found:
                return Verdict(records=tuple(records)) if records else GO_ON
            self.hinted_at = view.step_index
            return self._hint(view, *found[0], records, all_ok)
        stoppable = [f for f in found if not (all_ok and f[0] in _REPEATS)]
        if not stoppable:
            return Verdict(records=tuple(records)) if records else GO_ON
        pattern, tool, count = stoppable[0]
        evidence: dict[str, Any] = {"pattern": pattern, "tool": tool, "count": count}
        if self._wrote and not self._failed_since_write and self.finish_offered_at is None:
            self.finish_offered_at = view.step_index
            records.append(PolicyRecord(policy=self.name, event="finish_offer", data=evidence))
            return Verdict(
                kind="hint",
                policy=self.name,
                hint=FINISH_HINT + self._withholding(view, pattern, tool, all_ok),
                detail=detail(pattern, tool, count),
                evidence=evidence,
                records=tuple(records),
            )
        evidence["hinted_at_step"] = self.hinted_at
        records.append(PolicyRecord(policy=self.name, event="stop", data=evidence))
        return Verdict(
            kind="stop",
            policy=self.name,
            termination="doom_loop",
            detail=f"{detail(pattern, tool, count)}, after a hint at step {self.hinted_at}",
            evidence=evidence,
            records=tuple(records),
        )

    def _hint(
        self, view: RunView, pattern: LoopPattern, tool: str, count: int, records: list[PolicyRecord], all_ok: bool
    ) -> Verdict:
        evidence: dict[str, Any] = {"pattern": pattern, "tool": tool, "count": count}
        records.append(PolicyRecord(policy=self.name, event="hint", data=evidence))
        error = one_line(self._errors.key or "", 200)
        return Verdict(
            kind="hint",
            policy=self.name,
            hint=HINTS[pattern].format(tool=tool, count=count, error=error)
            + self._withholding(view, pattern, tool, all_ok),
            detail=detail(pattern, tool, count),
            evidence=evidence,
            records=tuple(records),
        )

    def _withholding(self, view: RunView, pattern: LoopPattern, tool: str, all_ok: bool) -> str:
        """Withhold the looping tools from the next step when the step succeeded; the sentence that says so."""
        names = frozenset(n for n in tool.split("/") if n) if all_ok and pattern != "same_error" else frozenset[str]()
        if not names:
            return ""
        self._withhold = (view.step_index + 1, names)
        return f" ({', '.join(sorted(names))} is not on offer for your next step.)"

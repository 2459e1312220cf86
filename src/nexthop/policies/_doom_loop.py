"""Doom-loop detection: notice a run going round in circles, say so once, then stop it.

After PraisonAI's doom-loop detection: a model that repeats itself rarely breaks out
unaided, but often does when told plainly what it is doing. Three patterns count,
each over ``n`` repeats:

- ``same_call``: the same tool with the same arguments ``n`` calls in a row;
- ``same_error``: ``n`` consecutive failed calls with identical error text (whatever
  the tools or arguments, e.g. retrying with cosmetic changes);
- ``no_new_information``: ``n`` consecutive steps whose results were all seen
  earlier in the run.

The first detection is a hint shown with the step's observations; any detection in a
later step stops the run with ``doom_loop``. Calls of ``finish`` are not counted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from nexthop._toolset import FINISH_TOOL
from nexthop._trajectory import Observation, PolicyRecord, ToolCall
from nexthop.policies._base import GO_ON, RunPolicy, RunView, Verdict

__all__ = ["DoomLoop", "LoopPattern"]

LoopPattern = Literal["same_call", "same_error", "no_new_information"]


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


class DoomLoop(RunPolicy):
    """One run's repeat counters.

    Args:
        n: Repeats that make a loop (at least 2; `PolicyConfig.doom_loop_n`, default 3).

    The hint and the stop leave a `PolicyRecord` (``event`` ``hint`` or ``stop``) whose
    ``data`` is the evidence: ``{"pattern", "tool", "count"}``. One hint per run: a
    model told once that it is looping, and looping again, is not recovering.
    """

    name = "doom_loop"

    def __init__(self, n: int) -> None:
        if n < 2:
            raise ValueError(f"doom loop repeats must be at least 2, got {n}")
        self.n = n
        self.hinted_at: int | None = None
        self._calls = _Streak()
        self._errors = _Streak()
        self._stale = _Streak()
        self._seen: set[str] = set()

    def after_step(self, view: RunView, calls: Sequence[ToolCall], observations: Sequence[Observation]) -> Verdict:
        pairs = [(c, o) for c, o in zip(calls, observations, strict=False) if c.name != FINISH_TOOL.name]
        if not pairs:
            return GO_ON
        for call, obs in pairs:
            self._calls.see(f"{call.name} {_canonical(call.arguments)}", call.name)
            self._errors.see(obs.content if obs.is_error else None, call.name)
        stale = all(o.content in self._seen for _, o in pairs)
        self._stale.see("stale" if stale else None, pairs[-1][0].name)
        self._seen.update(o.content for _, o in pairs)
        found = self._detect()
        if found is None:
            return GO_ON
        pattern, streak = found
        evidence = {"pattern": pattern, "tool": streak.tool, "count": streak.count}
        if self.hinted_at is None:
            self.hinted_at = view.step_index
            return Verdict(
                kind="hint",
                policy=self.name,
                hint=_hint(pattern, streak),
                detail=_detail(pattern, streak),
                evidence=evidence,
                records=(PolicyRecord(policy=self.name, event="hint", data=evidence),),
            )
        evidence["hinted_at_step"] = self.hinted_at
        return Verdict(
            kind="stop",
            policy=self.name,
            termination="doom_loop",
            detail=f"{_detail(pattern, streak)}, after a hint at step {self.hinted_at}",
            evidence=evidence,
            records=(PolicyRecord(policy=self.name, event="stop", data=evidence),),
        )

    def _detect(self) -> tuple[LoopPattern, _Streak] | None:
        patterns: list[tuple[LoopPattern, _Streak]] = [
            ("same_call", self._calls),
            ("same_error", self._errors),
            ("no_new_information", self._stale),
        ]
        for pattern, streak in patterns:
            if streak.count >= self.n:
                return pattern, streak
        return None


def _canonical(arguments: dict[str, Any]) -> str:
    # Key order is not a difference: {"a": 1, "b": 2} repeats {"b": 2, "a": 1}.
    return json.dumps(arguments, sort_keys=True, default=str)


def _detail(pattern: LoopPattern, streak: _Streak) -> str:
    return {
        "same_call": f"{streak.tool} was called with the same arguments {streak.count} times in a row",
        "same_error": f"{streak.count} calls in a row failed with the same error",
        "no_new_information": f"{streak.count} steps in a row brought no new information",
    }[pattern]


def _hint(pattern: LoopPattern, streak: _Streak) -> str:
    if pattern == "same_call":
        return (
            f"You called {streak.tool} with the same arguments {streak.count} times in a row; repeating it will "
            "not change the outcome. Do something different, or call finish if the task cannot progress."
        )
    if pattern == "same_error":
        error = " ".join((streak.key or "").split())[:200]
        return (
            f"Your last {streak.count} tool calls failed with the same error ({error}). Do not retry unchanged: "
            "change the approach or the tool, or call finish and explain what failed."
        )
    return (
        f"Your last {streak.count} steps returned nothing you had not already seen. Use what you have: "
        "try a different approach, or call finish."
    )

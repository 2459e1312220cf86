"""Probabilistic abandonment: give up, with a chance that grows, when tool calls keep failing.

After Autono (Wu et al. 2025, arXiv 2504.04650): an agent holds an abandonment
probability ``p``; each time it is penalised it draws ``roll`` uniformly in [0, 1)
and gives up when ``roll < p``, then ``p`` grows by the penalty rate ``beta``.
A personality is the pair ``(p0, beta)``.

Where nexthop differs from Autono's code (``autono/brain/agent.py``, 1.1.1):

- Autono's update is ``p = (beta * p) % 1.0``, which wraps around: a ``p`` of 0.9
  with ``beta`` 1.45 becomes 0.305, so an agent that has failed many times becomes
  *less* likely to give up. That is a bug; here ``p = min(1, beta * p)`` saturates.
- Autono penalises each step taken beyond the number of steps its planner estimated;
  nexthop has no up-front plan (each action is generated from the trajectory), so it
  penalises each failed tool call instead, which is what the paper's failure
  experiments (tools failing with probability 0.5) exercise.
- Autono's roll is the mean of three uniform draws (concentrated near 0.5, so a low
  ``p`` almost never fires); nexthop uses one uniform draw, so ``p`` is the
  probability of giving up at that draw, as documented.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import NamedTuple

from nexthop._exceptions import ConfigError
from nexthop._toolset import FINISH_TOOL
from nexthop._trajectory import Observation, PolicyRecord, ToolCall
from nexthop.policies._base import RunPolicy, RunView, Verdict
from nexthop.policies._transient import classify

__all__ = ["INQUISITIVE", "PRUDENT", "Abandonment", "Personality", "next_p", "parse_personality"]


class Personality(NamedTuple):
    """How readily a run gives up on failing tools.

    Attributes:
        p0: Probability of giving up at the first failed call (0 to 1).
        beta: Penalty rate: ``p`` is multiplied by it after every failed call (at least 1).
    """

    p0: float
    beta: float


PRUDENT = Personality(p0=0.05, beta=1.25)
"""Persistent: a prudent run does not give up on a task lightly; it keeps trying through failures.

``p`` reaches 0.5 after 11 failures and 1 after 14; a run survives 5 failures about
65% of the time. The values are Autono's (arXiv 2504.04650), but Autono's code gives
them to its *inquisitive* preset and the opposite pair to *prudent*; nexthop follows
its product brief (PRUDENT persists, INQUISITIVE gives up readily to go and try
something else), so the names are swapped relative to Autono's code.
"""

INQUISITIVE = Personality(p0=0.25, beta=1.45)
"""Gives up readily: an inquisitive run drops a failing line quickly to try another.

With one uniform roll, ``p`` runs 0.25, 0.36, 0.53, 0.76, 1.0: a run survives 3
failures about 23% of the time and never survives 5 (Autono's *prudent* values; see
`PRUDENT`).
"""

_PRESETS = {"prudent": PRUDENT, "inquisitive": INQUISITIVE}


def parse_personality(text: str) -> Personality:
    """Read a personality: ``prudent``, ``inquisitive`` (any case) or ``"<p0>,<beta>"``.

    Args:
        text: The setting, e.g. from ``--abandonment`` or the config file.

    Returns:
        The personality.

    Raises:
        ConfigError: ``text`` is neither a preset nor two numbers with ``0 <= p0 <= 1``
            and ``beta >= 1`` (a ``beta`` below 1 would make failures reassuring).
    """
    preset = _PRESETS.get(text.strip().lower())
    if preset is not None:
        return preset
    parts = text.split(",")
    try:
        p0, beta = (float(part) for part in parts)
    except ValueError:
        raise ConfigError(
            f"abandonment {text!r}: use 'prudent', 'inquisitive' or '<p0>,<beta>' (e.g. '0.1,1.5')"
        ) from None
    if not 0.0 <= p0 <= 1.0 or not beta >= 1.0:  # `not >=` also rejects NaN
        raise ConfigError(f"abandonment {text!r}: p0 must be between 0 and 1 and beta at least 1")
    return Personality(p0=p0, beta=beta)


def next_p(p: float, beta: float) -> float:
    """The abandonment probability after a failed call: ``min(1, beta * p)`` (saturates, never wraps)."""
    return min(1.0, beta * p)


class Abandonment(RunPolicy):
    """One run's abandonment state: ``p`` and the seeded random generator.

    Every failed tool call of a step (`Observation.failed`: an error
    result, a timeout, a crash, a call the host rejected as malformed) triggers one
    draw, recorded on the step as ``PolicyRecord(policy="abandonment", event="draw",
    data={"p", "roll", "abandon", "tool", "transient"})``. Calls refused by the
    permissions are not failures of the tool (their observation says ``denied``) and draw
    nothing (`DenialLimit` counts those); nor do skipped calls (`classify` says
    ``skipped``: they did not run, so the tool did not fail again).

    Transient failures (a timeout, "temporarily unavailable", see `classify`) draw too:
    giving up on a flaky tool is this policy's decision, after Autono. The doom-loop
    detector excuses them (up to its own bound), so the two never count the same failure.

    A success leaves ``p`` unchanged. ``p`` measures how much failure the run has
    absorbed, not the latest call's luck: resetting it on a success would let a tool
    that fails every other call go on forever (``p`` would never pass ``p0``), and
    lowering it would reward alternating failures. A run that keeps failing in one
    streak is the doom-loop detector's business; this policy bounds the total.

    Args:
        personality: ``p0`` and ``beta``.
        seed: Seed for the rolls; the same seed and the same failures give the same
            decisions. None seeds from the system.
    """

    name = "abandonment"

    def __init__(self, personality: Personality, seed: int | None = None) -> None:
        self.personality = personality
        self.p = personality.p0
        self.failures = 0
        self._rng = random.Random(seed)

    def after_step(self, view: RunView, calls: Sequence[ToolCall], observations: Sequence[Observation]) -> Verdict:
        draws: list[PolicyRecord] = []
        for call, obs in zip(calls, observations, strict=False):
            outcome = classify(obs)  # ok, denied and skipped draw nothing; failures do
            if outcome in ("ok", "denied", "skipped") or call.name == FINISH_TOOL.name:
                continue
            stop = self._draw(call.name, outcome == "transient", draws)
            if stop is not None:
                return stop
        return Verdict(records=tuple(draws))

    def _draw(self, tool: str, transient: bool, draws: list[PolicyRecord]) -> Verdict | None:
        """One roll for a failed call of ``tool``; the stop verdict (with every draw of the step) when it fires."""
        self.failures += 1
        p, roll = self.p, self._rng.random()
        abandon = roll < p
        draws.append(
            PolicyRecord(
                policy=self.name,
                event="draw",
                data={"p": p, "roll": roll, "abandon": abandon, "tool": tool, "transient": transient},
            )
        )
        self.p = next_p(p, self.personality.beta)
        if not abandon:
            return None
        return Verdict(
            kind="stop",
            policy=self.name,
            termination="abandoned",
            detail=f"gave up after {self.failures} failed tool calls (roll {roll:.3f} < p {p:.3f})",
            evidence={"p": p, "roll": roll, "failures": self.failures, "tool": tool},
            records=tuple(draws),
        )

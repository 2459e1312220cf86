"""Known failures: a call that failed for good is not run again unchanged while nothing has changed.

Read step by step in the task benchmark (nexthop at 9a838fb, all 22 tools), the commonest
doom-loop stop was a model making again the very call that had just failed: ``read_file``
of a missing file four times, ``move_file`` into a missing folder four times, a ``SELECT``
of a column that does not exist after ``describe_table`` had shown the right name. The
doom-loop hint came at the third repeat and the model made the call a fourth time.

The same call on the same state fails the same way, so running it again teaches the
model nothing. This policy remembers each call that failed permanently (`classify`: not
transient, not denied) by its tool and its canonical arguments. A later call with the
same tool and arguments is skipped (``CallVerdict(kind="skip")``) while no write has
succeeded since the failure: the model sees ``not run: ...`` with the step and the error
of the earlier failure, as a failed call. The tool is then left out of the next step's
offer, because a small model under a grammar that still offers the call tends to make it
again whatever it is told (the doom loop's withholding, measured at stop 18). Any write
that succeeds forgets every failure: it may have fixed the cause (the missing folder now
exists), and the repeat is then worth running.

The hint keeps its second way out, "or call finish and say what failed", though a small
model takes it often. Cut at 8605266, no benchmark verdict changed, and in
``rc_wrong_file_name`` the model wrote made-up text to the output file where it had
stopped with the workspace untouched (benchmarks/tasks/results/README.md).

Records: as for every `KnownOutcomes` policy.
"""

from __future__ import annotations

from collections.abc import Sequence

from nexthop._sanitize import one_line
from nexthop._trajectory import Observation, ToolCall
from nexthop.policies._loop_shapes import CallShape
from nexthop.policies._skips import KnownOutcomes
from nexthop.policies._transient import classify

__all__ = ["KnownFailures"]

_REASON = (
    "this exact call already failed at step {step} ({error}) and nothing has changed since, so it would fail "
    "the same way. {tool} is not on offer for your next step: find out what is wrong with a different call, "
    "or call finish and say what failed."
)


class KnownFailures(KnownOutcomes):
    """Skips an exact repeat of a call that failed permanently, until a write succeeds; see the module docstring."""

    name = "known_failures"

    def reason(self, step: int, outcome: str, tool: str) -> str:
        return _REASON.format(step=step, error=one_line(outcome, 200), tool=tool)

    def learn(self, step: int, pairs: Sequence[tuple[ToolCall, Observation]]) -> None:
        for call, obs in pairs:
            outcome = classify(obs)
            if outcome == "permanent":
                self.known.setdefault(CallShape.of(call.name, call.arguments).key, (step, obs.content))
            elif outcome == "ok" and self.writes.writes(call.name):
                self.known.clear()  # the state changed: a repeat may now succeed

"""The exit status of a command that ran a task: one table, for `nexthop run` and `nexthop runs resume`."""

from __future__ import annotations

from nexthop._trajectory import RunResult

__all__ = ["EXIT_CODES", "run_exit_code"]

EXIT_CODES = {"completed": 0, "usage": 2, "max_steps": 3, "error": 4, "servers": 5, "gave_up": 7, "cancelled": 130}
"""Exit status per outcome; a termination kind not listed (added by policies) exits 6."""


def run_exit_code(result: RunResult) -> int:
    """The exit status for a finished run: its termination kind's entry in `EXIT_CODES`, else 6."""
    return EXIT_CODES.get(result.termination.kind, 6)

"""What the doom-loop detector says: its hints to the model and its one-line stop details."""

from __future__ import annotations

from typing import Literal

__all__ = ["FINISH_HINT", "HINTS", "LoopPattern", "detail"]

LoopPattern = Literal[
    "same_call", "similar_call", "same_error", "no_new_information", "cycle", "accretion", "same_thought"
]

FINISH_HINT = (
    "Your changes succeeded and nothing has failed since; the task's work seems done. If it is, call finish now "
    "with a short summary. Otherwise do something different: repeating steps will end the run."
)

HINTS: dict[LoopPattern, str] = {
    "same_call": (
        "You called {tool} with the same arguments {count} times in a row; repeating it will not change the "
        "outcome. Do something different, or call finish if the task cannot progress."
    ),
    "similar_call": (
        "You called {tool} {count} times in a row with nearly the same arguments. Small changes will not change "
        "the outcome: do something different, or call finish if the task is done or cannot progress."
    ),
    "same_error": (
        "Your last {count} tool calls failed with the same error ({error}). Do not retry unchanged: change the "
        "approach or the tool, or call finish and explain what failed."
    ),
    "no_new_information": (
        "Your last {count} steps returned nothing you had not already seen. Use what you have: try a different "
        "approach, or call finish."
    ),
    "cycle": (
        "You are going round in a cycle ({tool}), {count} times over the same things. If the task is done, call "
        "finish now; otherwise do something different."
    ),
    "accretion": (
        "Your last {count} calls of {tool} each only added a little to the previous one. If the content is "
        "complete, stop changing it and call finish; otherwise write the final content once."
    ),
    "same_thought": (
        "You have had the same thought {count} steps in a row while going over the same ground. If the task is "
        "done, call finish; otherwise do something different."
    ),
}


def detail(pattern: LoopPattern, tool: str, count: int) -> str:
    return {
        "same_call": f"{tool} was called with the same arguments {count} times in a row",
        "similar_call": f"{tool} was called with nearly the same arguments {count} times in a row",
        "same_error": f"{count} calls in a row failed with the same error",
        "no_new_information": f"{count} steps in a row brought no new information",
        "cycle": f"the steps went round a cycle of {tool} {count} times",
        "accretion": f"{count} writes by {tool} in a row each only added a little",
        "same_thought": f"the same thought {count} steps in a row, over the same ground",
    }[pattern]

"""The host: the loop, its typed trajectory, and tools from Python functions."""

from nexthop.host._host import DEFAULT_INSTRUCTIONS, DEFAULT_MAX_STEPS, AgentHost, Observer, RunHandle
from nexthop.host._loop import ActionEvent, RunEvent
from nexthop.host._tools import FINISH_TOOL, FunctionTool, FunctionToolset, ToolDef, Toolset, tool
from nexthop.host._trajectory import (
    Observation,
    RunResult,
    RunStatus,
    Step,
    TerminationKind,
    TerminationReason,
    ToolCall,
    Trajectory,
    Usage,
)

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "DEFAULT_MAX_STEPS",
    "FINISH_TOOL",
    "ActionEvent",
    "AgentHost",
    "FunctionTool",
    "FunctionToolset",
    "Observation",
    "Observer",
    "RunEvent",
    "RunHandle",
    "RunResult",
    "RunStatus",
    "Step",
    "TerminationKind",
    "TerminationReason",
    "ToolCall",
    "ToolDef",
    "Toolset",
    "Trajectory",
    "Usage",
    "tool",
]

"""The host: the loop, its typed trajectory, and tools from Python functions."""

from nexthop._toolset import FINISH_TOOL, ToolDef, Toolset
from nexthop._trajectory import (
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
from nexthop.host._host import DEFAULT_INSTRUCTIONS, DEFAULT_MAX_STEPS, AgentHost, Observer
from nexthop.host._loop import ActionEvent, RunEvent
from nexthop.host._tools import FunctionTool, FunctionToolset, tool
from nexthop.host._views import RunHandle, ServerState

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
    "ServerState",
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

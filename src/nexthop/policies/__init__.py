"""Policies the loop consults each step: go on, hint, stop; allow, ask, skip, deny.

Every policy, built-in or the user's own, answers through one interface (`RunPolicy`,
started from a `Policy`); `PolicyConfig` holds the built-in ones' settings in one
place. See docs/policies.md for defaults, sources, and how to write your own.
"""

from nexthop.policies._abandonment import INQUISITIVE, PRUDENT, Abandonment, Personality, parse_personality
from nexthop.policies._base import (
    ALLOW,
    GO_ON,
    CallVerdict,
    Policy,
    PolicyRecord,
    RunPolicy,
    RunView,
    ToolOffer,
    Verdict,
)
from nexthop.policies._budget import StepBudget, TokenBudget, WallTimeBudget
from nexthop.policies._completion import CompletionCheck
from nexthop.policies._config import PolicyConfig
from nexthop.policies._denials import DenialLimit
from nexthop.policies._doom_loop import DoomLoop
from nexthop.policies._failed_writes import FailedWriteCheck
from nexthop.policies._grounded_writes import GroundedWrites
from nexthop.policies._known_failures import KnownFailures
from nexthop.policies._look_first import LookFirst
from nexthop.policies._permissions import Autonomy, PermissionCheck, Permissions
from nexthop.policies._pinning import PinStore, ToolPinning, default_pin_file
from nexthop.policies._read_first import ReadFirst
from nexthop.policies._registry import start_policies
from nexthop.policies._repeated_reads import RepeatedReads
from nexthop.policies._repeated_writes import RepeatedWrites
from nexthop.policies._taint import Taint

__all__ = [
    "ALLOW",
    "GO_ON",
    "INQUISITIVE",
    "PRUDENT",
    "Abandonment",
    "Autonomy",
    "CallVerdict",
    "CompletionCheck",
    "DenialLimit",
    "DoomLoop",
    "FailedWriteCheck",
    "GroundedWrites",
    "KnownFailures",
    "LookFirst",
    "PermissionCheck",
    "Permissions",
    "Personality",
    "ReadFirst",
    "PinStore",
    "Policy",
    "PolicyConfig",
    "PolicyRecord",
    "RepeatedReads",
    "RepeatedWrites",
    "RunPolicy",
    "RunView",
    "StepBudget",
    "Taint",
    "TokenBudget",
    "ToolOffer",
    "ToolPinning",
    "Verdict",
    "WallTimeBudget",
    "default_pin_file",
    "parse_personality",
    "start_policies",
]

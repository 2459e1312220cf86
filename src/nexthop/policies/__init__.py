"""Policies the loop consults each step: go on, stop, give up or ask a person.

Each is a small module answering the same question (`RunPolicy`); `PolicyConfig`
holds every setting in one place. See docs/policies.md for defaults and sources.
"""

from nexthop.policies._abandonment import INQUISITIVE, PRUDENT, Abandonment, Personality, parse_personality
from nexthop.policies._base import Policy, PolicyRecord, RunPolicy, RunView, Verdict
from nexthop.policies._budget import TokenBudget
from nexthop.policies._completion import CompletionCheck
from nexthop.policies._config import PolicyConfig
from nexthop.policies._denials import DenialLimit
from nexthop.policies._doom_loop import DoomLoop
from nexthop.policies._permissions import Autonomy, Permissions, Rule
from nexthop.policies._pinning import PinStore, ToolPinning, default_pin_file

__all__ = [
    "INQUISITIVE",
    "PRUDENT",
    "Abandonment",
    "Autonomy",
    "CompletionCheck",
    "DenialLimit",
    "DoomLoop",
    "Permissions",
    "Personality",
    "PinStore",
    "Policy",
    "PolicyConfig",
    "PolicyRecord",
    "Rule",
    "RunPolicy",
    "RunView",
    "TokenBudget",
    "ToolPinning",
    "Verdict",
    "default_pin_file",
    "parse_personality",
]

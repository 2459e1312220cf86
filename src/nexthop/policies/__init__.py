"""Policies the loop consults each step: go on, stop, give up or ask a person.

Each is a small module answering the same question (`RunPolicy`); `PolicyConfig`
holds every setting in one place. See docs/policies.md for defaults and sources.
"""

from nexthop.policies._base import Policy, RunPolicy, RunView, Verdict
from nexthop.policies._config import PolicyConfig
from nexthop.policies._denials import DenialLimit
from nexthop.policies._permissions import Autonomy, Permissions, Rule

__all__ = [
    "Autonomy",
    "DenialLimit",
    "Permissions",
    "Policy",
    "PolicyConfig",
    "Rule",
    "RunPolicy",
    "RunView",
    "Verdict",
]

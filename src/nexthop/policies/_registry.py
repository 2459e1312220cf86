"""Turns a `PolicyConfig` into the run policies the loop consults, in order."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexthop.policies._base import RunPolicy
from nexthop.policies._denials import DenialLimit

if TYPE_CHECKING:
    from nexthop.policies._config import PolicyConfig

__all__ = ["start_policies"]


def start_policies(config: PolicyConfig) -> list[RunPolicy]:
    """Per-run state for each enabled policy: budgets first (cheap), then denials."""
    policies: list[RunPolicy] = [DenialLimit(config.max_denials)]
    return policies

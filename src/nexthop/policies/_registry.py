"""Turns a `PolicyConfig` into the run policies the loop consults, in order."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexthop.policies._abandonment import Abandonment, parse_personality
from nexthop.policies._base import RunPolicy
from nexthop.policies._budget import TokenBudget
from nexthop.policies._completion import CompletionCheck
from nexthop.policies._denials import DenialLimit
from nexthop.policies._doom_loop import DoomLoop
from nexthop.policies._pinning import ToolPinning

if TYPE_CHECKING:
    from nexthop.policies._config import PolicyConfig

__all__ = ["start_policies"]


def start_policies(config: PolicyConfig) -> list[RunPolicy]:
    """Per-run state for each enabled policy, in the order the loop consults them.

    Budgets first (cheap, and a spent budget outranks everything), then the doom loop
    (its hint may save the run), abandonment, denials, and the completion check last
    (it speaks only at ``finish``).

    Raises:
        ConfigError: ``config.abandonment`` is not a personality (see `parse_personality`).
    """
    policies: list[RunPolicy] = []
    if config.max_tokens is not None:
        policies.append(TokenBudget(config.max_tokens))
    if config.doom_loop_n > 0:
        policies.append(DoomLoop(max(2, config.doom_loop_n)))
    if config.abandonment is not None:
        policies.append(Abandonment(parse_personality(config.abandonment), config.abandonment_seed))
    policies.append(DenialLimit(config.max_denials))
    pinning = ToolPinning.from_config(config)
    if pinning is not None:
        policies.append(pinning)
    if config.completion_check:
        policies.append(CompletionCheck())
    return policies

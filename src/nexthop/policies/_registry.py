"""Turns a `PolicyConfig` into the run policies the loop consults, in order.

This module imports every built-in policy and the settings; none of them imports it,
so the policies package has no import circle.
"""

from __future__ import annotations

from nexthop.policies._abandonment import Abandonment, parse_personality
from nexthop.policies._base import RunPolicy
from nexthop.policies._budget import TokenBudget, WallTimeBudget
from nexthop.policies._completion import CompletionCheck
from nexthop.policies._config import PolicyConfig
from nexthop.policies._denials import DenialLimit
from nexthop.policies._doom_loop import DoomLoop
from nexthop.policies._failed_writes import FailedWriteCheck
from nexthop.policies._grounded_writes import GroundedWrites
from nexthop.policies._known_failures import KnownFailures
from nexthop.policies._look_first import LookFirst
from nexthop.policies._names import ToolNameCheck
from nexthop.policies._narrowing import ToolNarrowing
from nexthop.policies._permissions import PermissionCheck
from nexthop.policies._pinning import PinStore, ToolPinning, default_pin_file
from nexthop.policies._read_first import ReadFirst
from nexthop.policies._repeated_reads import RepeatedReads
from nexthop.policies._repeated_writes import RepeatedWrites
from nexthop.policies._text_replies import NoToolTurns

__all__ = ["start_policies"]


def start_policies(config: PolicyConfig) -> list[RunPolicy]:
    """Per-run state for each enabled policy, in the order the loop consults them.

    Budgets first (cheap, and a spent budget outranks everything), then the text-reply
    nudge (it speaks only on a reply without a tool call), the doom loop (its hint may
    save the run), the known-failure, repeated-write, repeated-read, ungrounded-write
    and read-first skips (before narrowing: a tool they leave out is not ranked),
    abandonment, denials, the permissions (they answer only per call), the tool-name
    check (always on), pinning, the look-first hint (it names tools from the whole
    list; narrowing then offers the tools a hint names) and narrowing (last of those
    that filter, so it ranks only tools that may be offered), and the failed-write and
    completion checks last (they speak only at ``finish``). The step budget is added by
    the host, before all of these.

    Args:
        config: The settings.

    Returns:
        Fresh run policies; two calls never share state.

    Raises:
        ConfigError: ``config.abandonment`` is not a personality (see `parse_personality`).
    """
    policies: list[RunPolicy] = []
    if config.max_wall_time_s is not None:
        policies.append(WallTimeBudget(config.max_wall_time_s))
    if config.max_tokens is not None:
        policies.append(TokenBudget(config.max_tokens))
    policies.append(NoToolTurns(config.text_replies))
    if config.doom_loop_n > 0:
        policies.append(DoomLoop(max(2, config.doom_loop_n), config.transient_retries))
    skips = (
        (config.skip_known_failures, KnownFailures),
        (config.skip_repeated_writes, RepeatedWrites),
        (config.skip_repeated_reads, RepeatedReads),
        (config.skip_ungrounded_writes, GroundedWrites),
        (config.read_first, ReadFirst),
    )
    policies += [make() for on, make in skips if on]
    if config.abandonment is not None:
        policies.append(Abandonment(parse_personality(config.abandonment), config.abandonment_seed))
    policies.append(DenialLimit(config.max_denials))
    policies.append(PermissionCheck(config.permissions))
    policies.append(ToolNameCheck())
    if config.pinning:
        policies.append(ToolPinning(PinStore(config.pin_file or default_pin_file())))
    if config.look_first:
        policies.append(LookFirst())
    if config.narrow_tools_over is not None:
        threshold = config.narrow_tools_over
        top_k = min(config.narrow_top_k, threshold)
        policies.append(ToolNarrowing(threshold, top_k=top_k, max_share=config.narrow_tools_share))
    if config.failed_write_check:
        policies.append(FailedWriteCheck())
    if config.completion_check:
        policies.append(CompletionCheck())
    return policies

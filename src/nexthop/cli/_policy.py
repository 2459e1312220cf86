"""The CLI's policy flags and its approval prompt.

Flags override the config file's ``policies`` section, which overrides the defaults
(`PolicyConfig`). A call that needs approval is shown in full (server, tool, every
argument) and asked at the terminal; without a terminal the answer is no.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import anyio.to_thread
from pydantic import ValidationError
from rich.console import Console
from rich.prompt import Confirm
from rich.syntax import Syntax

from nexthop._exceptions import ConfigError
from nexthop._sanitize import reveal
from nexthop.cli._render import shown, shown_name
from nexthop.host._approval import ApprovalDecision, ApprovalRequest, Approver
from nexthop.host._sandbox import SandboxConfig, SandboxMount
from nexthop.policies._config import PolicyConfig

__all__ = ["add_policy_flags", "policy_from_args", "sandbox_from_args", "terminal_approver"]


def add_policy_flags(parser: argparse.ArgumentParser) -> None:
    """Add the policy flags shared by ``run`` and ``serve``."""
    group = parser.add_argument_group("policies (flags override the config file's 'policies' section)")
    group.add_argument(
        "--autonomy",
        choices=["suggest", "auto_edit", "full_auto"],
        help="suggest: ask before every call; auto_edit: ask unless the tool is read-only; full_auto (default)",
    )
    for rule in ("allow", "ask", "deny"):
        group.add_argument(
            f"--{rule}",
            action="append",
            metavar="PATTERN",
            help=f"{rule} calls of tools matching a glob over server__tool",
        )
    group.add_argument(
        "--abandon",
        metavar="PERSONALITY",
        help="give up on repeated tool failures with some probability: prudent, inquisitive or P0,BETA (off)",
    )
    group.add_argument("--seed", type=int, help="seed for abandonment draws (reproducible runs)")
    group.add_argument(
        "--doom-loop", type=int, metavar="N", help="repeats that count as a doom loop (default 3; 0 off)"
    )
    group.add_argument("--max-tokens", type=int, metavar="N", help="token budget per run")
    group.add_argument("--max-time", type=float, metavar="SECONDS", help="wall-time budget per run")
    # A connection setting (AgentHost(tool_timeout_s=...)), offered here beside the budgets.
    group.add_argument(
        "--tool-timeout", type=float, metavar="SECONDS", help="per-call timeout for servers that set none"
    )
    group.add_argument(
        "--completion-check", action="store_true", default=None, help="ask once at finish if the task is met"
    )
    group.add_argument(
        "--no-failed-write-check",
        action="store_true",
        help="accept finish even when a failed write was never redone (by default the model is sent back once)",
    )
    group.add_argument(
        "--no-skip-known-failures",
        action="store_true",
        help="run again a call that failed for good even when nothing has changed (by default it is skipped)",
    )
    group.add_argument(
        "--no-skip-repeated-writes",
        action="store_true",
        help="run again an unchanged write that just succeeded (by default skipped: it would change things twice)",
    )
    group.add_argument(
        "--skip-repeated-reads",
        action="store_true",
        default=None,
        help="skip an unchanged repeat of a read-only, closed-world read while nothing has been written since",
    )
    group.add_argument(
        "--redraws",
        type=int,
        metavar="N",
        help="draw a step's action again, sampled, up to N times when a policy foresees its call's outcome "
        "(a known failure, say) instead of spending the step on it (default: 0)",
    )
    group.add_argument(
        "--skip-ungrounded-writes",
        action="store_true",
        default=None,
        help="hold back once a write whose words come from neither the task nor any result (never make up data)",
    )
    group.add_argument(
        "--read-first",
        action="store_true",
        default=None,
        help="hold back once the first write with content made before the task's first file was read",
    )
    group.add_argument(
        "--look-first",
        action="store_true",
        default=None,
        help="after a call fails with 'not found', hint to look at what exists and name near matches",
    )
    group.add_argument(
        "--text-replies",
        type=int,
        metavar="N",
        help="replies without a tool call in a row that end a run; each earlier one is nudged (default 2)",
    )
    group.add_argument(
        "--narrow-tools",
        type=_narrow_tools,
        metavar="N|off",
        help="past N tools, offer the model only those relevant to the task (default 12; off: every tool)",
    )
    group.add_argument(
        "--narrow-tools-share",
        type=float,
        metavar="SHARE",
        help="past N tools, still offer every tool while listing them takes at most this share of the "
        "model's context window (e.g. 0.6; only models that can tell, such as local; default: off)",
    )
    group.add_argument("--pin-file", metavar="FILE", help="where tool pins are kept (default: user config folder)")
    group.add_argument("--no-pinning", action="store_true", help="do not block tools whose definition changed")
    group.add_argument(
        "--synthesize",
        action="store_true",
        default=None,
        help="let the model write Python tools (create_tool), each call run in a bubblewrap sandbox",
    )
    group.add_argument(
        "--sandbox-read",
        action="append",
        default=[],
        metavar="FOLDER",
        help="with --synthesize: a folder written tools may read, mounted read-only at the same path "
        "(repeatable; the first is their working directory unless the config file's 'sandbox' names one; "
        "that section can also mount read-write)",
    )


def sandbox_from_args(args: argparse.Namespace, base: SandboxConfig | None) -> SandboxConfig | None:
    """The synthesis sandbox: ``base`` (the config file's ``sandbox``) plus each ``--sandbox-read`` folder.

    The first folder given is the working directory when ``base`` names none.

    Raises:
        ConfigError: A ``--sandbox-read`` folder does not exist.
    """
    folders: list[str] = getattr(args, "sandbox_read", None) or []
    if not folders:
        return base
    paths = [Path(folder).expanduser().resolve() for folder in folders]
    for folder, path in zip(folders, paths, strict=True):
        if not path.is_dir():
            raise ConfigError(f"--sandbox-read {folder}: not a folder; give an existing folder written tools may read")
    base = base or SandboxConfig()
    mounts = (*base.mounts, *(SandboxMount(path=path) for path in paths))
    return base.model_copy(update={"mounts": mounts, "workdir": base.workdir or paths[0]})


def policy_from_args(args: argparse.Namespace, base: PolicyConfig | None) -> PolicyConfig:
    """The policy for this command: ``base`` (the config file's, or defaults) updated by the flags given."""
    policy = base or PolicyConfig()
    permissions: dict[str, Any] = {}
    if args.autonomy:
        permissions["autonomy"] = args.autonomy
    for rule in ("allow", "ask", "deny"):
        if getattr(args, rule):
            permissions[rule] = (*getattr(policy.permissions, rule), *getattr(args, rule))
    update: dict[str, Any] = {
        "abandonment": args.abandon,
        "abandonment_seed": args.seed,
        "doom_loop_n": args.doom_loop,
        "max_tokens": args.max_tokens,
        "max_wall_time_s": args.max_time,
        "completion_check": args.completion_check,
        "failed_write_check": False if args.no_failed_write_check else None,
        "skip_known_failures": False if args.no_skip_known_failures else None,
        "skip_repeated_writes": False if args.no_skip_repeated_writes else None,
        "skip_repeated_reads": args.skip_repeated_reads,
        "redraws": args.redraws,
        "skip_ungrounded_writes": args.skip_ungrounded_writes,
        "read_first": args.read_first,
        "look_first": args.look_first,
        "pin_file": args.pin_file,
        "pinning": False if args.no_pinning else None,
        "synthesize": args.synthesize,
        "text_replies": args.text_replies,
        "narrow_tools_over": args.narrow_tools,
        "narrow_tools_share": args.narrow_tools_share,
    }
    values = {k: v for k, v in update.items() if v is not None}
    if args.narrow_tools == "off":
        values["narrow_tools_over"] = None
    if permissions:
        values["permissions"] = policy.permissions.model_copy(update=permissions)
    # Validate the merged settings, so a bad flag gets the same clear error as a bad file.
    try:
        return PolicyConfig.model_validate({**policy.model_dump(), **values})
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"policy setting {field!r}: {err['msg']} (see nexthop run --help)") from None


def _narrow_tools(value: str) -> int | str:
    """``--narrow-tools``: a tool count, or ``off``."""
    if value.strip().lower() == "off":
        return "off"
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of tools or 'off', got {value!r}") from None


def terminal_approver(console: Console, before_prompt: Any = None) -> Approver:
    """Ask the person at the terminal; deny when there is none (stdin is not a TTY).

    Args:
        console: Where the request is shown (stderr).
        before_prompt: Called first, e.g. to stop a spinner.
    """

    async def approve(request: ApprovalRequest) -> ApprovalDecision:
        if not sys.stdin.isatty():
            return ApprovalDecision(approved=False, reason="needs approval, and this run has no terminal to ask")
        if before_prompt is not None:
            before_prompt()
        console.print(
            f"[bold yellow]approve?[/] [cyan]{shown_name(request.tool)}[/] on server "
            f"[bold]{shown_name(request.server or 'python')}[/] with arguments:"
        )
        if request.description:
            console.print(f"[dim]{shown(request.description, 300)}[/]", soft_wrap=True)
        # Shown exactly, hidden characters included (as \uXXXX), since this is what the tool will get.
        arguments = dict(request.arguments)
        source = arguments.pop("source", None) if request.tool == "create_tool" else None
        console.print(Syntax(reveal(json.dumps(arguments, indent=2, ensure_ascii=False)), "json", word_wrap=True))
        if isinstance(source, str):  # a tool the model wrote: the code that would run, as code
            console.print("[bold]source:[/]")
            console.print(Syntax(reveal(source), "python", word_wrap=True, line_numbers=True))
        answer = await anyio.to_thread.run_sync(lambda: Confirm.ask("allow this call?", console=console, default=False))
        return ApprovalDecision(
            approved=answer, reason="approved at the terminal" if answer else "the person at the terminal said no"
        )

    return approve

"""Long-term memory at the terminal: ``--memory``, ``--no-memory``, the file's ``"memory"``, what a run recalled.

With memory on, a run starts with digests of the most similar earlier runs in the run
store (see ``nexthop.host._recall``). It is off unless ``--memory`` or the config file's
``"memory": true`` (or an object of `RecallConfig` settings) turns it on; ``--no-memory``
turns off what the file turned on.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

import platformdirs
from rich.console import Console
from rich.markup import escape

from nexthop._config_file import load_config
from nexthop._exceptions import ConfigError
from nexthop._recalled import RecallConfig, RecalledRun
from nexthop._sanitize import one_line

__all__ = ["add_memory_flags", "print_recalled", "recall_setting"]


def add_memory_flags(parser: argparse.ArgumentParser) -> None:
    """``--memory`` and ``--no-memory`` on a command that runs tasks."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--memory",
        action="store_true",
        default=None,
        help="offer the model the most similar earlier runs in the run store (their task, outcome, the calls that "
        'worked, the errors met); default: the config file\'s "memory", else off',
    )
    group.add_argument("--no-memory", dest="memory", action="store_false", help="recall no earlier run")


def recall_setting(args: argparse.Namespace) -> RecallConfig | None:
    """The recall settings these flags and the config file ask for; None when memory is off.

    Raises:
        ConfigError: Memory is on and the run store is off (``--no-store``), or the
            config file's ``"memory"`` is not valid.
    """
    asked: bool | None = getattr(args, "memory", None)
    if asked is False:
        return None
    from_file = _file_memory(args)
    config = (from_file or RecallConfig()) if asked else from_file
    if config is not None and getattr(args, "no_store", False):
        raise ConfigError("memory recalls earlier runs from the run store: drop --no-store, or pass --no-memory")
    return config


def _file_memory(args: argparse.Namespace) -> RecallConfig | None:
    path = getattr(args, "config", None) or os.environ.get("NEXTHOP_CONFIG")
    default = Path(platformdirs.user_config_dir("nexthop")) / "servers.json"
    if path is None and default.exists():
        path = str(default)
    return load_config(path).memory if path is not None else None


def print_recalled(console: Console, recalled: Sequence[RecalledRun]) -> None:
    """One dim line per earlier run the model was offered: id, similarity, outcome, task (cleaned, escaped)."""
    for run in recalled:
        console.print(
            f"[dim]recalled run {escape(one_line(run.run_id, 40))} (similarity {run.score:.2f}, "
            f"{escape(one_line(run.status, 20))}, {escape(one_line(run.termination, 20))}): "
            f"{escape(one_line(run.task, 120))}[/]",
            soft_wrap=True,
        )

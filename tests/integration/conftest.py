"""Fixtures for the stdio integration tests: real child processes, real reference servers.

The reference servers must be installed (CI does it): ``npx`` on PATH, and the
SQLite server's own venv (made here on first use, where ``examples/setup.sh``
puts it). A missing one fails the tests with the fix; ``NEXTHOP_SKIP_INTEGRATION=1``
skips the whole folder instead, saying so.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from procs import alive, no_new_children

SKIP_VAR = "NEXTHOP_SKIP_INTEGRATION"
SQLITE_PINS = ("mcp-server-sqlite==2025.4.25", "mcp<2")  # as examples/setup.sh installs them
SQLITE_VENV_DEFAULT = Path.home() / ".cache" / "nexthop" / "sqlite-server-venv"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(SKIP_VAR) != "1":
        return
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason=f"{SKIP_VAR}=1 is set: stdio integration tests skipped on request")
    for item in items:
        if here in item.path.parents:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def no_leftover_children() -> Iterator[None]:
    """Every test must leave no process of its own behind, whatever it asserts itself."""
    with no_new_children():
        yield


@pytest.fixture
def stopper() -> Iterator[list[psutil.Process]]:
    """Processes a test SIGSTOPs go in this list; they get SIGCONT at teardown if still there."""
    stopped: list[psutil.Process] = []
    yield stopped
    for p in stopped:
        if alive(p):
            p.send_signal(signal.SIGCONT)


@pytest.fixture(scope="session")
def npx() -> str:
    """The ``npx`` executable; the filesystem reference server runs through it."""
    path = shutil.which("npx")
    if path is None:
        pytest.fail(
            "npx is not on PATH: install Node.js 18+ (the filesystem reference server runs with npx), "
            f"or set {SKIP_VAR}=1 to skip the integration tests"
        )
    return path


@pytest.fixture(scope="session")
def sqlite_server() -> str:
    """The ``mcp-server-sqlite`` executable from its own venv (it needs ``mcp<2``); made if missing."""
    venv = Path(os.environ.get("NEXTHOP_SQLITE_VENV") or SQLITE_VENV_DEFAULT)
    exe = venv / "bin" / "mcp-server-sqlite"
    if not _imports(venv, "mcp_server_sqlite"):
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            + list(SQLITE_PINS),
        ]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                pytest.fail(
                    f"cannot set up the SQLite reference server in {venv}: {' '.join(step)} failed: {' | '.join(tail)} "
                    f"(run `bash examples/setup.sh`, or set {SKIP_VAR}=1 to skip the integration tests)"
                )
    if not exe.exists():
        pytest.fail(f"{exe} is missing after installing {' '.join(SQLITE_PINS)} into {venv}")
    return str(exe)


def _imports(venv: Path, module: str) -> bool:
    python = venv / "bin" / "python"
    if not python.exists():
        return False
    return subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, timeout=60).returncode == 0

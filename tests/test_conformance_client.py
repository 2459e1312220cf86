"""A few of the official conformance suite's client scenarios, against nexthop's real client code.

`scripts/conformance.sh` (``make conformance``, which CI runs first) installs Node 22 and
npm ``@modelcontextprotocol/conformance@0.2.0-alpha.12`` into a cache folder; this test
uses that install and skips, saying so, where it is missing. The whole set and its counts
are the script's job; these scenarios cover each part of the entry point: a plain tool
call, an elicitation answered with defaults, and an OAuth sign-in on the 2026-07-28 wire.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("CONFORMANCE_CACHE", Path.home() / ".cache/nexthop/conformance"))
NODE = CACHE / "node_modules/.bin/node"
SUITE = CACHE / "node_modules/@modelcontextprotocol/conformance/dist/index.js"


def _suite_ready() -> str | None:
    if not NODE.exists() or not SUITE.exists():
        return f"the conformance suite is not installed in {CACHE} (run: bash scripts/conformance.sh)"
    out = subprocess.run([str(NODE), "--version"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0 or int(out.stdout.strip().lstrip("v").split(".")[0]) < 22:
        return f"{NODE} is not Node 22 or later"
    return None


@pytest.mark.parametrize(
    ("scenario", "revision"),
    [
        ("tools_call", "2025-11-25"),
        ("elicitation-sep1034-client-defaults", "2025-11-25"),
        ("auth/metadata-default", "2026-07-28"),
    ],
)
def test_conformance_client_scenario(scenario: str, revision: str, tmp_path: Path) -> None:
    if (why := _suite_ready()) is not None:
        pytest.skip(why)
    command = f"{sys.executable} -m nexthop.cli._conformance"
    out = subprocess.run(
        [str(NODE), str(SUITE), "client", "--command", command, "--scenario", scenario, "--spec-version", revision],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    log = out.stdout + out.stderr
    assert "OVERALL: PASSED" in log, log[-3000:]
    assert "FAILURE" not in log and "WARNING" not in log.replace("WARNING nexthop", ""), log[-3000:]

"""The embedded model doing real work over real MCP servers, judged by the state it left.

These run the 1.5B model on the CPU (seconds per step), so they are few and small.
They need the ``local`` extra and, for the example, ``bash examples/setup.sh``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from embedded import local_model

from nexthop import AgentHost, StdioServerConfig

pytestmark = [pytest.mark.embedded, pytest.mark.anyio]
ROOT = Path(__file__).resolve().parents[2]
FS_PACKAGE = "@modelcontextprotocol/server-filesystem@2026.8.31"


async def test_embedded_model_completes_a_file_task(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello from nexthop\nsecond line\n")
    # The reading and writing tools only: a 1.5B model chooses well among a few tools.
    fs = StdioServerConfig(
        name="fs",
        command="npx",
        args=["-y", FS_PACKAGE, str(tmp_path)],
        tools=("read_text_file", "write_file", "list_directory"),
    )
    task = (
        f"Read the file {tmp_path}/notes.txt, then write its first line converted to upper case "
        f"into the file {tmp_path}/upper.txt."
    )
    async with AgentHost(model=local_model(), servers=[fs], max_steps=8) as host:
        result = await host.run(task)
    calls = [
        (c.name, c.arguments, o.content[:100])
        for s in result.steps
        for c, o in zip(s.tool_calls, s.observations, strict=False)
    ]
    written = tmp_path / "upper.txt"
    assert written.exists(), f"no upper.txt; calls were {calls}"
    assert written.read_text().strip() == "HELLO FROM NEXTHOP", calls
    assert (tmp_path / "notes.txt").read_text() == "hello from nexthop\nsecond line\n"  # input left alone
    assert result.termination.kind == "completed", result.termination


def test_the_readme_main_job_leaves_the_right_table_and_totals() -> None:
    """`nexthop run` on the example config, as `make demo` does, then the example's own checker."""
    if shutil.which("npx") is None:
        pytest.fail("npx is needed for the filesystem server: install Node.js 18+")
    subprocess.run(["bash", str(ROOT / "examples" / "setup.sh")], check=True, capture_output=True)
    task = (ROOT / "Makefile").read_text().split("TASK ?= ", 1)[1].splitlines()[0]
    nexthop = Path(sys.executable).with_name("nexthop")
    run = subprocess.run(
        [str(nexthop), "run", "--config", str(ROOT / "examples" / "servers.json"), "--max-steps", "12", "--json", task],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "NEXTHOP_MODEL": "local"},
    )
    check = subprocess.run([sys.executable, str(ROOT / "examples" / "check.py")], capture_output=True, text=True)
    assert check.returncode == 0, f"{check.stdout}\n--- nexthop stderr ---\n{run.stderr[-4000:]}"
    assert run.returncode == 0, run.stderr[-4000:]

"""``--tools many`` of the task benchmark, without starting servers: which servers, confined where, proxied how."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from benchmarks.tasks._agents import Outcome, RunOptions, server_configs
from benchmarks.tasks._many import MEMORY_FILE, tool_count_line
from benchmarks.tasks.run import summarize
from benchmarks.tasks.tasks import TASKS

_PLAIN = next(t for t in TASKS if not t.faults)
_FAULTY = next(t for t in TASKS if t.faults)


def test_many_adds_five_real_servers_confined_to_the_workspace(tmp_path: Path) -> None:
    configs = {c.name: c for c in server_configs(_PLAIN, tmp_path, RunOptions(tools="many"))}
    assert list(configs) == ["fs", "db", "memory", "git", "time", "everything", "thinking"]
    assert all(c.cwd == str(tmp_path) and c.tools is None for c in configs.values())
    assert configs["memory"].env == {"MEMORY_FILE_PATH": str(tmp_path / MEMORY_FILE)}
    assert configs["git"].args[-2:] == ["--repository", str(tmp_path)]
    assert configs["everything"].args[-1] == "stdio"
    # The git server only serves an existing repository: the workspace was made one.
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=tmp_path, capture_output=True, text=True)
    assert Path(top.stdout.strip()) == tmp_path.resolve()


def test_whole_stays_two_servers_and_leaves_the_workspace_alone(tmp_path: Path) -> None:
    assert [c.name for c in server_configs(_PLAIN, tmp_path, RunOptions(tools="whole"))] == ["fs", "db"]
    assert not (tmp_path / ".git").exists()


def test_the_fault_proxy_wraps_the_extra_servers_too(tmp_path: Path) -> None:
    configs = server_configs(_FAULTY, tmp_path, RunOptions(tools="many"))
    assert len(configs) == 7
    for c in configs:
        assert c.args[0].endswith("_fault_proxy.py"), c.name
        assert "--" in c.args
    memory = next(c for c in configs if c.name == "memory")
    assert memory.env == {"MEMORY_FILE_PATH": str(tmp_path / MEMORY_FILE)}  # the proxy passes it on


def test_tool_count_line_counts_per_server_in_order() -> None:
    total, per_server, line = tool_count_line(["fs", "fs", "db", "memory", "fs"])
    assert (total, per_server) == (5, {"fs": 3, "db": 1, "memory": 1})
    assert list(per_server) == ["fs", "db", "memory"]
    assert line == "tools on offer: 5 (fs 3, db 1, memory 1)"


@pytest.mark.parametrize(("cached", "expected"), [(0, 50.0), (300, 125.0)])
def test_prompt_tokens_per_step_counts_the_whole_prompt_cached_or_not(cached: int, expected: float) -> None:
    outcome = Outcome("t", "one_step", "nexthop", True, "", "completed", 4, 8.0, 200, cached, 40, "")
    (row, _all) = summarize([outcome])
    assert row["prompt_tokens_per_step"] == expected
    assert row["tokens_per_step"] == 60.0  # evaluated plus generated: the cost, unchanged

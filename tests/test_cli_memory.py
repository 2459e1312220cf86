"""`nexthop run --memory`: a run recalls an earlier failure; `show` names it; the config file turns it on."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any


def _nexthop(tmp_path: Path, *args: str, code: int = 0, store: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NEXTHOP_STORE", "NEXTHOP_CONFIG")}
    env.update(XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    where = ["--store", f"sqlite:///{tmp_path / 'runs.sqlite'}"] if store else []
    done = subprocess.run(
        [sys.executable, "-m", "nexthop", *args, *where], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == code, done.stderr
    return done


def _script(tmp_path: Path, name: str, actions: list[dict[str, Any]]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(actions))
    return f"scripted:{path}"


def _run_id(done: subprocess.CompletedProcess[str]) -> str:
    found = re.search(r"run ([0-9a-f]{16}) \(nexthop show", done.stderr)
    assert found, done.stderr
    return found[1]


def test_memory_recalls_the_earlier_failure_show_names_it_and_the_config_file_turns_it_on(tmp_path: Path) -> None:
    trap = _script(tmp_path, "trap.json", [{"tool": "read_file", "arguments": {"name": "meeting-notes.txt"}}])
    done = _script(tmp_path, "done.json", [{"tool": "finish", "arguments": {"result": "copied"}}])
    # The first attempt reads the name the user gave, which does not exist (here: no such tool), and runs out.
    task = "Copy meeting-notes.txt to summary.txt."
    first = _run_id(_nexthop(tmp_path, "run", "-q", "--model", trap, "--max-steps", "1", task, code=3))

    recalled = _nexthop(tmp_path, "run", "-q", "--memory", "--json", "--model", done, "Copy meeting-notes.txt to a.txt")
    result = json.loads(recalled.stdout)
    assert [r["run_id"] for r in result["trajectory"]["recalled"]] == [first]
    assert "read_file" in result["trajectory"]["recalled"][0]["failed"][0]
    assert f"recalled run {first}" in recalled.stderr
    assert f"recalled run {first}" in _nexthop(tmp_path, "show", _run_id(recalled)).stdout

    config = tmp_path / "servers.json"
    config.write_text(json.dumps({"mcpServers": {}, "memory": {"top_k": 1, "min_score": 0.2}}))
    on = _nexthop(tmp_path, "run", "-q", "--json", "--config", str(config), "--model", done, "Copy meeting-notes.txt")
    off = _nexthop(tmp_path, "run", "-q", "--json", "--no-memory", "--config", str(config), "--model", done, "Copy it")
    assert len(json.loads(on.stdout)["trajectory"]["recalled"]) == 1
    assert json.loads(off.stdout)["trajectory"]["recalled"] == []
    refused = _nexthop(tmp_path, "run", "--memory", "--no-store", "--model", done, "x", code=2, store=False)
    assert "drop --no-store" in refused.stderr

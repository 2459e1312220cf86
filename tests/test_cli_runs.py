"""`nexthop run` killed with SIGKILL mid-run, then `nexthop resume`, `nexthop runs` and `nexthop show`.

Real processes: the CLI in a subprocess with a scripted model and a stdio tool server
(tests/support/work_server.py) that logs every call it runs, so the test sees which
tool calls ran and how often.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

SUPPORT = Path(__file__).parent / "support"
pytestmark = pytest.mark.anyio


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NEXTHOP_STORE"}
    env.update(XDG_DATA_HOME=str(tmp_path / "data"), **extra)
    return env


def _nexthop(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "nexthop", *args], env=env, capture_output=True, text=True, timeout=180
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def _script(tmp_path: Path) -> Path:
    actions = [
        {"tool": "work__work", "arguments": {"label": "a"}, "thought": "first"},
        {"tool": "work__work", "arguments": {"label": "b"}, "thought": "second"},
        {"tool": "work__work", "arguments": {"label": "c"}, "thought": "third"},
        {"tool": "finish", "arguments": {"result": "all done"}},
    ]
    path = tmp_path / "script.json"
    path.write_text(json.dumps(actions))
    return path


def _log(tmp_path: Path) -> list[str]:
    path = tmp_path / "work.log"
    return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []


async def test_a_run_killed_mid_call_resumes_and_each_step_is_recorded_once(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    server = f"work={sys.executable} {SUPPORT / 'work_server.py'} {tmp_path / 'work.log'}"
    common = ["--store", store]
    run = [sys.executable, "-m", "nexthop", "run", "-q", "--server", f"{server} b", *common]
    run += ["--model", f"scripted:{_script(tmp_path)}", "do the work"]
    # A plain Popen: the test kills its whole process group with SIGKILL, which anyio leaves to us anyway.
    proc = subprocess.Popen(run, env=_env(tmp_path), start_new_session=True, stderr=subprocess.PIPE)  # noqa: ASYNC220
    try:
        with anyio.fail_after(120):
            while "b" not in _log(tmp_path):  # the second call is in flight (and hangs)
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                await anyio.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its stdio server, no chance to clean up
        proc.wait()
    env = _env(tmp_path)

    listed: list[dict[str, Any]] = json.loads(_nexthop("runs", "--json", *common, env=env).stdout)
    assert [r["state"] for r in listed] == ["interrupted"]
    run_id = listed[0]["run_id"]
    shown = json.loads(_nexthop("show", run_id, "--json", *common, env=env).stdout)
    assert [s["index"] for s in shown["trajectory"]["steps"]] == [1, 2]
    assert [c["arguments"] for c in shown["in_flight"]] == [{"label": "b"}]

    resumed = _nexthop("resume", run_id, "--server", server, *common, env=env)
    assert "re-running work__work" in resumed.stderr
    assert resumed.stdout.strip() == "all done"
    # Recorded before the kill: a ran once. In flight at the kill: b ran again (at least once).
    assert _log(tmp_path) == ["a", "b", "b", "c"]

    shown = json.loads(_nexthop("show", run_id, "--json", *common, env=env).stdout)
    assert shown["state"] == "completed"
    steps = shown["trajectory"]["steps"]
    assert [s["index"] for s in steps] == [1, 2, 3, 4]
    labels = [c["arguments"].get("label") for s in steps for c in s["tool_calls"]]
    assert labels == ["a", "b", "c", None]
    assert [o["content"] for s in steps[:3] for o in s["observations"]] == ["done a", "done b", "done c"]

    again = _nexthop("resume", run_id, *common, env=env, check=False)
    assert again.returncode == 2 and "already finished (completed)" in again.stderr
    unknown = _nexthop("show", "nosuchrun", *common, env=env, check=False)
    assert unknown.returncode == 2 and "no run 'nosuchrun'" in unknown.stderr
    text = _nexthop("show", run_id, *common, env=env).stdout
    assert "step 4" in text and "work__work" in text


async def test_default_store_is_sqlite_in_the_user_data_folder_and_off_records_nothing(tmp_path: Path) -> None:
    script = tmp_path / "s.json"
    script.write_text(json.dumps([{"tool": "finish", "arguments": {"result": "ok"}}]))
    env = _env(tmp_path)
    assert _nexthop("run", "-q", "--model", f"scripted:{script}", "t", env=env).stdout.strip() == "ok"
    assert (tmp_path / "data" / "nexthop" / "runs.sqlite").exists()
    listed = json.loads(_nexthop("runs", "--json", env=env).stdout)
    assert [(r["task"], r["state"], r["steps"]) for r in listed] == [("t", "completed", 1)]
    _nexthop("run", "-q", "--no-store", "--model", f"scripted:{script}", "u", env=env)
    assert len(json.loads(_nexthop("runs", "--json", env=env).stdout)) == 1


async def test_bad_stores_are_reported_in_one_line(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"this is not a database" * 100)
    env = _env(tmp_path)
    done = _nexthop("runs", "--store", f"sqlite:///{corrupt}", env=env, check=False)
    assert done.returncode == 2 and str(corrupt) in done.stderr and "left as it is" in done.stderr
    assert corrupt.read_bytes() == b"this is not a database" * 100  # never replaced
    done = _nexthop("runs", "--store", "postgresql://nexthop:s3cret@127.0.0.1:1/runs", env=env, check=False)
    assert done.returncode == 2 and "postgresql://nexthop:***@127.0.0.1:1/runs" in done.stderr
    assert "s3cret" not in done.stderr and "PostgreSQL is running" in done.stderr
    done = _nexthop("runs", "--store", "mysql://x@y/z", env=env, check=False)
    assert done.returncode == 2 and "unsupported run store" in done.stderr

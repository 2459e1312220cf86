"""Approval at the CLI, in a real terminal (pexpect gives the process a pseudo-terminal)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent
NEXTHOP = str(Path(sys.executable).with_name("nexthop"))
DEMO = f"demo={sys.executable} {ROOT / 'support' / 'demo_server.py'}"


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "actions.json"
    path.write_text(
        json.dumps(
            [
                {"tool": "demo__add", "arguments": {"a": 2, "b": 3}, "thought": "add them"},
                {"tool": "finish", "arguments": {"result": "done"}},
            ]
        )
    )
    return path


def argv(script: Path, tmp_path: Path) -> list[str]:
    return [
        "run",
        "add 2 and 3",
        "--model",
        f"scripted:{script}",
        "--server",
        DEMO,
        "--ask",
        "demo__add",
        "--json",
        "--pin-file",
        str(tmp_path / "pins.json"),
    ]


def run_in_terminal(args: list[str], answer: str) -> tuple[str, dict[str, object]]:
    child = pexpect.spawn(NEXTHOP, args, encoding="utf-8", timeout=60, dimensions=(50, 200))
    child.expect("allow this call")
    shown = child.before or ""
    child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()
    out = (child.before or "").replace("\r\n", "\n")
    # In a terminal stderr (live steps) and stdout (--json) share the screen; the JSON comes last.
    result = json.loads(out[out.index('{\n  "kind": "run_result"') :])
    return shown, result


@pytest.mark.parametrize(("answer", "approved"), [("y", True), ("n", False)])
def test_the_person_at_the_terminal_sees_the_full_call_and_decides(
    script: Path, tmp_path: Path, answer: str, approved: bool
) -> None:
    shown, result = run_in_terminal(argv(script, tmp_path), answer)
    assert "demo__add" in shown and "demo" in shown and '"a": 2' in shown and '"b": 3' in shown
    obs = result["trajectory"]["steps"][0]["observations"][0]  # type: ignore[index]
    if approved:
        assert (obs["content"], obs["is_error"]) == ("5", False)
    else:
        assert obs["is_error"] and obs["content"].startswith("denied by policy: the person at the terminal said no")


def test_without_a_terminal_the_call_is_denied(script: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [NEXTHOP, *argv(script, tmp_path)], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60
    )
    result = json.loads(done.stdout)
    obs = result["trajectory"]["steps"][0]["observations"][0]
    assert obs["is_error"] and "no terminal to ask" in obs["content"]

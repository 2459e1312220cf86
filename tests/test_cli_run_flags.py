"""`nexthop run` flags for text replies, tool narrowing and retries."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from nexthop._exceptions import ConfigError
from nexthop.cli._app import main
from nexthop.cli._parser import build_parser as _parser
from nexthop.cli._policy import policy_from_args

DEMO = Path(__file__).resolve().parent / "support" / "demo_server.py"
DEMO_FLAG = f"demo={sys.executable} {DEMO}"


def test_the_policy_flags_set_text_replies_and_narrowing() -> None:
    args = _parser().parse_args(["run", "t", "--text-replies", "1", "--narrow-tools", "off"])
    policy = policy_from_args(args, None)
    assert (policy.text_replies, policy.narrow_tools_over) == (1, None)
    args = _parser().parse_args(["run", "t", "--narrow-tools", "20"])
    assert policy_from_args(args, None).narrow_tools_over == 20
    defaults = policy_from_args(_parser().parse_args(["run", "t"]), None)
    assert (defaults.text_replies, defaults.narrow_tools_over, defaults.narrow_top_k) == (2, 12, 8)
    assert defaults.narrow_tools_share is None
    args = _parser().parse_args(["run", "t", "--narrow-tools-share", "0.6"])
    assert policy_from_args(args, None).narrow_tools_share == 0.6


def test_a_share_not_above_zero_is_a_one_line_config_error() -> None:
    args = _parser().parse_args(["run", "t", "--narrow-tools-share", "0"])
    with pytest.raises(ConfigError, match=r"^policy setting 'narrow_tools_share': .*greater than 0"):
        policy_from_args(args, None)


def test_a_bad_narrowing_flag_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        _parser().parse_args(["run", "t", "--narrow-tools", "few"])
    assert exit_.value.code == 2
    assert "a number of tools or 'off'" in capsys.readouterr().err


def test_retries_reach_the_run_and_every_attempt_is_in_the_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A by-step script: each attempt's step 1 calls echo, then the step budget of 1 stops it;
    # the reflection request (one step in) gets the reply.
    script = tmp_path / "actions.json"
    script.write_text(
        json.dumps([{"tool": "demo__echo", "arguments": {"text": "hi"}}, {"reply": "I ran out of steps"}])
    )
    argv = ["run", "go", "--model", f"scripted:{script}", "--server", DEMO_FLAG, "--max-steps", "1", "--retries", "1"]
    assert main([*argv, "--pin-file", str(tmp_path / "p.json"), "--json", "-q"]) == 3
    result = json.loads(capsys.readouterr().out)
    assert result["termination"]["kind"] == "max_steps"
    (attempt,) = result["attempts"]
    assert (attempt["kind"], attempt["index"], attempt["reflection"]) == ("attempt", 1, "I ran out of steps")
    assert result["trajectory"]["memory"]["reflection"] == "I ran out of steps"


def test_negative_retries_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "t", "--model", "scripted:/nonexistent.json", "--retries", "-1"]) == 2
    assert "--retries must be 0 or more" in capsys.readouterr().err

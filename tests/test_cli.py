"""The `nexthop` command: listings, exit codes and one-line errors for bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from nexthop.cli._app import main

DEMO = Path(__file__).resolve().parent / "support" / "demo_server.py"
DEMO_FLAG = f"demo={sys.executable} {DEMO}"


def test_tools_lists_each_server_with_namespaced_tools(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "--server", DEMO_FLAG, "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["demo"]["status"] in ("connected", "closed")
    assert {"demo__echo", "demo__add"} <= {t["name"] for t in listing["demo"]["tools"]}


def test_tools_table_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "--server", DEMO_FLAG]) == 0
    assert "demo__echo" in capsys.readouterr().out


def test_a_server_that_fails_is_named_and_strict_exits_5(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "--server", "bad=/nonexistent/server", "--server", DEMO_FLAG]) == 5
    captured = capsys.readouterr()
    assert "bad" in captured.err and "/nonexistent/server" in captured.err
    assert "demo__echo" in captured.out  # the other server still listed
    assert main(["tools", "--strict", "--server", "bad=/nonexistent/server"]) == 5


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "x", "--model", "foo:bar"], "unknown model 'foo:bar'"),
        (["run", "x", "--model", "anthropic:claude-x"], "ANTHROPIC_API_KEY"),
        (["run", "x", "--model", "openai:gpt-x"], "OPENAI_API_KEY"),
        (["run", "x", "--max-steps", "0", "--model", "foo:bar"], "--max-steps"),
        (["tools", "nosuch", "--server", "a=echo"], "unknown server 'nosuch'"),
        (["tools", "--server", "no-equals-sign"], "NAME=COMMAND"),
        (["tools"], "no servers configured"),
    ],
)
def test_bad_input_gets_one_clear_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "NEXTHOP_CONFIG", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent-config-home")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1, err


def test_a_bad_config_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "servers.json"
    bad.write_text('{"mcpServers": {"fs": {"command": 3}}}')
    assert main(["tools", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and '"fs"' in err and '"command"' in err


def test_help_explains_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--config", "--server", "--model", "--max-steps", "--json", "NEXTHOP_MODEL"):
        assert flag in out


def test_a_model_calling_a_tool_named_with_markup_does_not_crash_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A tool result can ask the model to call "evil[/x]"; rich would read it as a closing tag (issue 9, item 4).
    script = tmp_path / "actions.json"
    script.write_text(
        json.dumps([{"tool": "evil[/x]", "thought": "[/]"}, {"tool": "finish", "arguments": {"result": "[/]"}}])
    )
    argv = ["run", "go", "--model", f"scripted:{script}", "--server", DEMO_FLAG, "--pin-file", str(tmp_path / "p.json")]
    assert main([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert [s["tool_calls"][0]["name"] for s in result["trajectory"]["steps"]] == ["evil[/x]", "finish"]
    assert "evil[/x]" in captured.err


def test_a_description_with_markup_does_not_crash_nexthop_tools(capsys: pytest.CaptureFixture[str]) -> None:
    hostile = f"hostile={sys.executable} {DEMO.with_name('hostile_server.py')}"
    assert main(["tools", "--server", hostile]) == 0
    out = capsys.readouterr().out
    assert "[/]" in out and "[bold red]styled[/bold red]" in out

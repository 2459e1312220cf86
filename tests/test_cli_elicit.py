"""A server's elicitation at the CLI, in a real terminal (pexpect), and without one."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
from rich.console import Console

from nexthop.cli._elicit import UnrenderableForm, form_fields, terminal_elicitor
from nexthop.clients._callbacks import ElicitationRequest

ROOT = Path(__file__).resolve().parent
NEXTHOP = str(Path(sys.executable).with_name("nexthop"))
FEATURES = f"f={sys.executable} {ROOT / 'support' / 'features_server.py'} f"


def argv(tmp_path: Path) -> list[str]:
    script = tmp_path / "actions.json"
    script.write_text(json.dumps([{"tool": "f__book"}, {"tool": "finish", "arguments": {"result": "done"}}]))
    return ["run", "book a trip", "--model", f"scripted:{script}", "--server", FEATURES, "--json"] + [
        "--pin-file",
        str(tmp_path / "pins.json"),
    ]


def observation(out: str) -> str:
    out = out.replace("\r\n", "\n")
    result = json.loads(out[out.index('{\n  "kind": "run_result"') :])
    return result["trajectory"]["steps"][0]["observations"][0]["content"]


@pytest.mark.integration
def test_the_form_is_asked_field_by_field_with_defaults_choices_and_validation(tmp_path: Path) -> None:
    child = pexpect.spawn(NEXTHOP, argv(tmp_path), encoding="utf-8", timeout=60, dimensions=(50, 200))
    child.expect("asks:.*Book the trip")
    child.expect(r"answer\?")
    child.sendline("y")
    child.expect(r"Name.*\(Ada\)")  # the default is shown
    child.sendline("Zed")
    child.expect(r"Cabin \(economy, business\).*\(economy\)")
    child.sendline("first")
    child.expect("choose one of: economy, business")
    child.sendline("business")
    child.expect(r"Nights.*\(2\)")
    child.sendline("99")
    child.expect("99 is greater than the maximum of 14")
    child.sendline("")  # the default, 2
    child.expect("Insurance")
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    assert observation(child.before or "") == "booked Zed business 2 nights insurance=True"


@pytest.mark.integration
def test_without_a_terminal_the_question_is_declined_at_once(tmp_path: Path) -> None:
    done = subprocess.run(
        [NEXTHOP, *argv(tmp_path)], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert observation(done.stdout) == "not booked (decline)"
    result = json.loads(done.stdout)
    [record] = [r for r in result["trajectory"]["steps"][0]["records"] if r["event"] == "elicitation"]
    assert "there is no terminal to ask" in record["data"]["reason"]


def test_forms_nexthop_cannot_render_are_refused_with_the_reason() -> None:
    with pytest.raises(UnrenderableForm, match="field 'address' is of type 'object'"):
        form_fields({"type": "object", "properties": {"address": {"type": "object"}}})
    with pytest.raises(UnrenderableForm, match="list of free values"):
        form_fields({"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}}})
    fields = form_fields(
        {
            "type": "object",
            "properties": {
                "size": {
                    "type": "string",
                    "oneOf": [{"const": "s", "title": "Small"}, {"const": "l", "title": "Large"}],
                },
                "toppings": {"type": "array", "items": {"enum": ["ham", "olive"]}},
            },
            "required": ["size"],
        }
    )
    assert [(f.name, f.choices, f.values, f.multiple, f.required) for f in fields] == [
        ("size", ("Small", "Large"), ("s", "l"), False, True),
        ("toppings", ("ham", "olive"), ("ham", "olive"), True, False),
    ]


@pytest.mark.anyio
async def test_an_unrenderable_form_is_declined_naming_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    elicit = terminal_elicitor(Console(file=io.StringIO()))
    schema = {"type": "object", "properties": {"address": {"type": "object"}}}
    answer = await elicit(ElicitationRequest(server="shop", mode="form", message="where?", schema=schema))
    assert answer.action == "decline"
    assert answer.reason == "server 'shop' sent a form nexthop cannot show: field 'address' is of type 'object' " + (
        "(only strings, numbers, booleans and choices)"
    )

"""Tool names: the spec's rule (through the SDK), duplicates, look-alikes, printable forms."""

from __future__ import annotations

import time

import pytest

from nexthop._tool_names import check_tool_name, confusable_with, name_problems, printable_name, screen_tools
from nexthop._toolset import ToolDef


def tool(name: str, description: str = "d", server: str | None = "up") -> ToolDef:
    full = f"{server}__{name}" if server is not None else name
    return ToolDef(name=full, description=description, server=server, remote_name=name if server else None)


@pytest.mark.parametrize("name", ["echo", "read_file", "a.b-c_D9", "x" * 128, "-leading-dash"])
def test_names_the_spec_allows_pass(name: str) -> None:
    assert check_tool_name(name) is None


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("", "cannot be empty"),
        ("x" * 129, "exceeds maximum length of 128 characters (current: 129)"),
        ("\u0435cho", "invalid characters: '\\u0435'"),  # Cyrillic е
        ("echo\u200b", "'\\u200b'"),
        ("\x1b[31mecho", "'\\x1b'"),
        ("echo\nfinish", "'\\n'"),
        ("evil[/x]", "'[', '/', ']'"),
        ("echo tool", "contains spaces"),
        ("ｅｃｈｏ", "'\\uff45'"),
        ("tag\U000e0041", "'\\U000e0041'"),
    ],
)
def test_names_the_spec_forbids_fail_with_an_ascii_reason(name: str, shown: str) -> None:
    reason = check_tool_name(name)
    assert reason is not None and reason.startswith("invalid tool name (SEP-986): ")
    assert shown in reason
    assert reason.isascii() and reason.isprintable()


def test_a_name_offered_twice_is_a_problem_for_every_tool_of_that_name() -> None:
    tools = [tool("echo"), tool("add"), tool("echo", "other"), tool("bad name"), ToolDef(name="mine")]
    assert name_problems(tools) == {
        "up__echo": ("duplicate", "offered 2 times under one name; all are withheld"),
        "up__bad name": ("invalid_name", check_tool_name("bad name")),
    }


def test_the_hosts_own_tools_are_not_name_checked_but_count_for_duplicates() -> None:
    assert name_problems([ToolDef(name="my tool")]) == {}
    assert list(name_problems([ToolDef(name="up__echo"), tool("echo")])) == ["up__echo"]


def test_screen_tools_withholds_and_records_each_name_once() -> None:
    bad = tool("\x1b]52;c;ZXZpbA==\x07x")
    offered, records = screen_tools([tool("echo"), tool("add"), tool("add", "x"), bad], policy="names")
    assert offered == [tool("echo")]
    assert [(r.policy, r.event, r.data["tool"], r.data["reason"]) for r in records] == [
        ("names", "blocked", "up__add", "duplicate"),
        ("names", "blocked", "up__\\x1b]52;c;ZXZpbA==\\x07x", "invalid_name"),
    ]


@pytest.mark.parametrize(
    ("name", "protected", "hit"),
    [
        ("\u0435cho", ["echo"], "echo"),  # Cyrillic е
        ("ｅｃｈｏ", ["echo"], "echo"),  # fullwidth, folded by NFKC
        ("ec\u200bho", ["echo"], "echo"),  # zero-width space, ignored
        ("echo\U000e0041", ["echo"], "echo"),  # a tag character, ignored
        ("Echo", ["echo"], "echo"),  # case
        ("f\u0456n\u0456sh", ["echo", "finish"], "finish"),  # Cyrillic і
        ("\ufb01nish", ["finish"], "finish"),  # the fi ligature
        ("flnish", ["finish"], "finish"),  # l for i
        ("finish", ["finish"], "finish"),  # the same name impersonates it
        ("echo2", ["echo", "finish"], None),
        ("read_file", ["write_file", "finish"], None),
        ("run-task", ["run_task"], None),
    ],
)
def test_confusable_with_finds_look_alikes(name: str, protected: list[str], hit: str | None) -> None:
    assert confusable_with(name, protected) == hit


def test_printable_name_escapes_and_caps() -> None:
    assert printable_name("echo") == "echo"
    assert printable_name("\u0435cho\u202e\x1b[0m\\") == "\\u0435cho\\u202e\\x1b[0m\\\\"
    long = printable_name("a" * 300)
    assert long == "a" * 80 + "... (300 characters)"
    assert printable_name("\U000e0041" * 20, max_chars=10) == "\\U000e0041... (20 characters)"


def test_long_names_that_share_most_of_their_text_are_compared_quickly() -> None:
    # The library's check is quadratic in what it compares; the shared ends are cut first.
    base = "tool_number_{}_of_a_large_server_action"
    start = time.perf_counter()
    assert confusable_with(base.format("1"), [base.format("l")]) == base.format("l")
    assert confusable_with(base.format("m"), [base.format("rn")]) == base.format("rn")
    for i in range(300):
        assert confusable_with(base.format(i), [base.format(j) for j in range(i + 1, i + 4)]) is None
    assert time.perf_counter() - start < 2.0  # about 0.05 s; about 3 s without the cut

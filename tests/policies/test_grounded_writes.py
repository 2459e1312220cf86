"""Grounded writes: a write whose words come from nowhere is held back once a run."""

from __future__ import annotations

import pytest
from notes_tool import Notes

from nexthop import AgentHost, ModelResponse, RunResult, ScriptedModel
from nexthop._trajectory import ToolCall
from nexthop.cli._parser import build_parser
from nexthop.cli._policy import policy_from_args
from nexthop.models import call, finish
from nexthop.policies import PolicyConfig
from nexthop.policies._grounded_writes import new_words

pytestmark = pytest.mark.anyio

TASK = "Copy the names in people.txt into names.txt."
READ = call("read_text_file", path="people.txt")
MISSING = call("read_text_file", path="gone.txt")
MADE_UP = call("write_file", path="names.txt", content="John Doe\nJane Smith")
COPIED = call("write_file", path="names.txt", content="Amira Lopez\nCarl Berg")


class Files(Notes):
    """The write tool, and a read of ``people.txt`` beside it."""

    def read_text_file(self, path: str) -> str:
        """Read a text file.

        Args:
            path: Which.
        """
        if path != "people.txt":
            raise FileNotFoundError(f"ENOENT: no such file or directory, open '{path}'")
        return "Amira Lopez\nCarl Berg\n"


ON = PolicyConfig(skip_ungrounded_writes=True)


async def run(script: list[ModelResponse], policy: PolicyConfig = ON) -> tuple[RunResult, Files]:
    files = Files()
    tools = [files.read_text_file, files.write_file]
    async with AgentHost(model=ScriptedModel(script), tools=tools, policy=policy) as host:
        return await host.run(TASK), files


def skipped(result: RunResult) -> list[int]:
    return [s.index for s in result.steps for r in s.records if r.policy == "grounded_writes" and r.event == "skipped"]


async def test_a_made_up_write_is_held_back_once_and_the_same_call_again_runs() -> None:
    result, files = await run([MADE_UP, MADE_UP, finish("done")])
    assert skipped(result) == [1]
    held = result.steps[0].observations[0]
    assert held.skipped and held.is_error
    assert held.content.startswith("not run: this call writes 'john', 'doe', 'jane', 'smith', which appear neither")
    assert held.content.endswith("Never make up data: read what the task refers to first, and write what you read.")
    assert files.written == ["John Doe\nJane Smith"]  # the second, insisting call ran


async def test_words_read_from_a_result_are_grounded_and_an_error_text_is_not() -> None:
    result, files = await run([READ, COPIED, finish("done")])
    assert skipped(result) == [] and files.written == ["Amira Lopez\nCarl Berg"]

    # The failed read's error text holds the words, but an error is no source.
    echo = call("write_file", path="names.txt", content="ENOENT: no such file or directory, open 'gone.txt'")
    result, files = await run([MISSING, echo, READ, COPIED, finish("done")])
    assert skipped(result) == [2] and files.written == ["Amira Lopez\nCarl Berg"]


async def test_it_is_opt_in_by_setting_or_flag() -> None:
    result, files = await run([MADE_UP, finish("done")], PolicyConfig())
    assert skipped(result) == [] and files.written == ["John Doe\nJane Smith"]
    parser = build_parser()
    assert policy_from_args(parser.parse_args(["run", "t"]), None).skip_ungrounded_writes is False
    flag = policy_from_args(parser.parse_args(["run", "t", "--skip-ungrounded-writes"]), None)
    assert flag.skip_ungrounded_writes is True


def _call(name: str, **arguments: object) -> ToolCall:
    return ToolCall(id="c1", name=name, arguments=arguments)


def test_new_words_reads_content_and_sql_literals_only() -> None:
    sources = ["Load people.csv into the people table.", "name\nAmira\nBo\nCarl\n"]
    # SQL: keywords, tables and columns are not content; the quoted literals are.
    real = _call("write_query", query="INSERT INTO people (name, city) VALUES ('Amira', 'Oslo'), ('Carl', 'Rome')")
    assert new_words(real, sources) == (["oslo", "rome"], 4)
    made_up = _call("write_query", query="insert into people (name) values ('David O''Brien')")
    assert new_words(made_up, sources) == (["david", "brien"], 2)
    # A bare path is not content; numbers and words under three letters are not words.
    assert new_words(_call("move_file", source="a.txt", destination="old/zebra.txt"), sources) == ([], 0)
    assert new_words(_call("write_file", path="t.txt", content="1234.56 + 7 = 1241.56 ok"), sources) == ([], 0)
    # Case does not matter; nested arguments (an edit's newText) count.
    edit = _call("edit_file", path="people.csv", edits=[{"oldText": "Bo", "newText": "AMIRA and Carl Berg"}])
    assert new_words(edit, sources) == (["and", "berg"], 4)

"""The ``gguf-tool-calls`` chat handler for llama-cpp-python's server, without running a model.

The template in ``tests/support/qwen2_5_chat_template.jinja`` is the embedded GGUF's own
(Qwen2.5-Coder-1.5B-Instruct's ``tokenizer.chat_template``, copied verbatim), so the
rendering tests show what the model reads. A fake ``Llama`` stands in for generation.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("llama_cpp")

from llama_cpp import LlamaGrammar  # noqa: E402
from llama_cpp.llama_chat_format import get_chat_completion_handler  # noqa: E402

from nexthop.models import llama_server  # noqa: E402
from nexthop.models._llama_server import (  # noqa: E402
    CHAT_FORMAT,
    TemplateError,
    handle_chat_completion,
    register,
    template_messages,
)
from nexthop.models._llama_tool_calls import parse_reply, tool_call_grammar  # noqa: E402

QWEN_TEMPLATE = (Path(__file__).parents[1] / "support" / "qwen2_5_chat_template.jinja").read_text()
CHATML_NO_TOOLS = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n"
)

READ = {
    "type": "function",
    "function": {
        "name": "fs__read_text_file",
        "description": "Read the complete contents of a file as text.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "tail": {"type": "number", "description": "last N lines"}},
            "required": ["path"],
            "additionalProperties": False,
        },
    },
}
FINISH = {
    "type": "function",
    "function": {
        "name": "finish",
        "description": "Call this once the task is done.",
        "parameters": {"type": "object", "properties": {"result": {"type": "string"}}, "required": ["result"]},
    },
}
CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "fs__read_text_file", "arguments": '{"path": "a.csv"}'},
}


class FakeModel:
    """What the handler uses of ``llama_cpp.internals.LlamaModel``."""

    def token_get_text(self, token: int) -> str:
        return {1: "<|im_end|>", 2: "<|endoftext|>"}[token]


class FakeLlama:
    """What the handler uses of ``llama_cpp.Llama``; ``create_completion`` returns ``reply``."""

    verbose = False

    def __init__(self, reply: str, template: str = QWEN_TEMPLATE) -> None:
        self.metadata = {"tokenizer.chat_template": template}
        self._model = FakeModel()
        self.reply = reply
        self.prompt = ""
        self.kwargs: dict[str, Any] = {}

    def token_eos(self) -> int:
        return 1

    def token_bos(self) -> int:
        return 2

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        assert not add_bos and special  # the template writes every special token itself
        self.prompt = text.decode()
        return list(range(len(text)))

    def create_completion(self, **kwargs: Any) -> dict[str, Any]:
        self.kwargs = kwargs
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        choice = {"text": self.reply, "index": 0, "logprobs": None, "finish_reason": "stop"}
        return {
            "id": "cmpl-1",
            "object": "text_completion",
            "created": 1,
            "model": "qwen",
            "choices": [choice],
            "usage": usage,
        }


def _conversation() -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "You are an agent."},
        {"role": "user", "content": "Read a.csv."},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "id,name\n1,Ada"},
    ]


def test_template_messages_give_templates_argument_objects_and_string_content() -> None:
    messages = _conversation() + [{"role": "user", "content": [{"type": "text", "text": "go"}, {"type": "image"}]}]
    shaped = template_messages(messages)
    assert shaped[2]["content"] == ""
    assert shaped[2]["tool_calls"][0]["function"]["arguments"] == {"path": "a.csv"}
    assert shaped[4]["content"] == "go"
    assert messages[2]["tool_calls"][0]["function"]["arguments"] == '{"path": "a.csv"}'  # input untouched


def test_template_messages_keep_arguments_that_are_not_json_as_text() -> None:
    bad = {**CALL, "function": {"name": "f", "arguments": "{path: a"}}
    shaped = template_messages([{"role": "assistant", "content": "", "tool_calls": [bad]}])
    assert shaped[0]["tool_calls"][0]["function"]["arguments"] == "{path: a"


def test_the_prompt_shows_descriptions_tool_results_and_calls_as_objects() -> None:
    llama = FakeLlama(reply="done")
    handle_chat_completion(llama=llama, messages=_conversation(), tools=[READ, FINISH], tool_choice="auto")
    prompt = llama.prompt
    assert "Read the complete contents of a file as text." in prompt  # the stock handler drops descriptions
    assert "Call this once the task is done." in prompt
    assert "<tool_response>\nid,name\n1,Ada\n</tool_response>" in prompt  # the stock handler drops tool messages
    # arguments written as an object, not as a JSON string inside the call
    assert '{"name": "fs__read_text_file", "arguments": {"path": "a.csv"}}' in prompt
    assert prompt.endswith("<|im_start|>assistant\n")


def test_a_template_that_ignores_tools_is_refused() -> None:
    with pytest.raises(TemplateError, match="does not show tools"):
        handle_chat_completion(llama=FakeLlama("x", CHATML_NO_TOOLS), messages=_conversation(), tools=[READ])


def test_a_gguf_without_a_template_is_refused() -> None:
    with pytest.raises(TemplateError, match="no chat template"):
        handle_chat_completion(llama=FakeLlama("x", ""), messages=_conversation(), tools=[READ])


def test_the_grammar_offers_calls_of_the_tools_and_a_message_under_auto() -> None:
    grammar = tool_call_grammar([READ, FINISH], "auto")
    assert grammar is not None
    assert grammar.startswith("root ::= preamble? tool-calls | message\n")
    assert 'tool-call ::= "<tool_call>\\n" call "\\n</tool_call>"' in grammar
    assert '"\\"fs__read_text_file\\""' in grammar and '"\\"finish\\""' in grammar
    assert '"\\"path\\""' in grammar and '"\\"tail\\""' in grammar  # arguments follow the schema


def test_required_and_named_choices_allow_calls_only() -> None:
    required = tool_call_grammar([READ, FINISH], "required")
    named = tool_call_grammar([READ, FINISH], {"type": "function", "function": {"name": "finish"}})
    assert required is not None and required.startswith("root ::= preamble? tool-calls\n")
    assert named is not None and named.startswith("root ::= preamble? tool-calls\n")
    assert '"\\"finish\\""' in named and "fs__read_text_file" not in named


def test_a_line_of_thought_may_come_before_the_calls_but_not_json_or_a_fence() -> None:
    grammar = tool_call_grammar([READ], "required")
    assert grammar is not None
    assert 'preamble ::= [^<`{ \\n] [^<\\n]{0,300} "\\n"\n' in grammar  # one line, bounded


def test_thought_first_makes_the_line_before_the_calls_required() -> None:
    required = tool_call_grammar([READ], "required", thought_first=True)
    auto = tool_call_grammar([READ], "auto", thought_first=True)
    assert required is not None and required.startswith("root ::= preamble tool-calls\n")
    assert auto is not None and auto.startswith("root ::= preamble tool-calls | message\n")
    llama = FakeLlama(
        'I read the file first.\n<tool_call>\n{"name": "fs__read_text_file", "arguments": {"path": "a"}}\n</tool_call>'
    )
    response = handle_chat_completion(llama=llama, messages=_conversation(), tools=[READ], thought_first=True)
    assert llama.kwargs["grammar"]._grammar.startswith("root ::= preamble tool-calls")  # pyright: ignore[reportPrivateUsage]
    assert isinstance(response, dict) and response["choices"][0]["message"]["content"] == "I read the file first."


def test_without_parallel_tool_calls_a_reply_holds_one_call() -> None:
    one = tool_call_grammar([READ, FINISH], "required", parallel_tool_calls=False)
    many = tool_call_grammar([READ, FINISH], "required")
    assert one is not None and "tool-calls ::= tool-call\n" in one
    assert many is not None and 'tool-calls ::= tool-call ("\\n" tool-call)*\n' in many


def test_the_server_passes_parallel_tool_calls_to_the_handler_as_a_template_kwarg() -> None:
    # llama_cpp.server's --chat_template_kwargs arrive as keyword arguments of the handler
    llama = FakeLlama('<tool_call>\n{"name": "finish", "arguments": {"result": "ok"}}\n</tool_call>')
    handle_chat_completion(llama=llama, messages=_conversation(), tools=[FINISH], parallel_tool_calls=False)
    assert "tool-calls ::= tool-call\n" in llama.kwargs["grammar"]._grammar  # pyright: ignore[reportPrivateUsage]
    assert "parallel_tool_calls" not in llama.kwargs


def test_no_grammar_without_tools_or_with_none() -> None:
    assert tool_call_grammar([], "auto") is None
    assert tool_call_grammar([READ], "none") is None


def test_bad_tool_choices_are_errors() -> None:
    with pytest.raises(ValueError, match="not among the tools"):
        tool_call_grammar([READ], {"type": "function", "function": {"name": "nope"}})
    with pytest.raises(ValueError, match="tool_choice must be"):
        tool_call_grammar([READ], "sometimes")


def test_a_schema_the_converter_refuses_takes_any_object_and_spares_the_others() -> None:
    odd = {
        "type": "function",
        "function": {"name": "odd", "parameters": {"type": "object", "properties": {"x": {"type": "foo"}}}},
    }
    grammar = tool_call_grammar([odd, READ], "auto")
    assert grammar is not None and '"\\"odd\\""' in grammar and '"\\"path\\""' in grammar


def test_parse_reply_turns_blocks_into_calls_and_keeps_the_text() -> None:
    text = (
        "I will read it.\n<tool_call>\n"
        '{"name": "fs__read_text_file", "arguments": {"path": "a.csv"}}\n</tool_call>\n<tool_call>\n'
        '{"name": "fs__write_file", "arguments": {"path": "b.csv", "content": "x\ny"}}\n</tool_call>'
    )
    content, calls = parse_reply(text)
    assert content == "I will read it."
    assert [c["function"]["name"] for c in calls] == ["fs__read_text_file", "fs__write_file"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"path": "a.csv"}
    assert json.loads(calls[1]["function"]["arguments"]) == {"path": "b.csv", "content": "x\ny"}  # raw newline
    assert calls[0]["id"] != calls[1]["id"] and calls[0]["id"].startswith("call_")


def test_parse_reply_leaves_blocks_that_are_not_calls_in_the_text() -> None:
    assert parse_reply("a <tool_call>{not json}</tool_call> b") == ("a <tool_call>{not json}</tool_call> b", [])
    assert parse_reply('<tool_call>{"arguments": {}}</tool_call>') == ('<tool_call>{"arguments": {}}</tool_call>', [])
    assert parse_reply("just text") == ("just text", [])
    _, calls = parse_reply('<tool_call>{"name": "f", "arguments": "{\\"a\\": 1}"}</tool_call>')
    assert calls[0]["function"]["arguments"] == '{"a": 1}'  # a string of arguments is passed as it is
    _, calls = parse_reply('<tool_call>{"name": "f"}</tool_call>')
    assert calls[0]["function"]["arguments"] == "{}"


def test_a_call_comes_back_as_openai_tool_calls_generated_under_the_grammar() -> None:
    reply = '<tool_call>\n{"name": "finish", "arguments": {"result": "ok"}}\n</tool_call>'
    llama = FakeLlama(reply)
    response = handle_chat_completion(
        llama=llama,
        messages=_conversation(),
        tools=[READ, FINISH],
        tool_choice="required",
        temperature=0.0,
        max_tokens=64,
    )
    assert isinstance(response, dict)
    choice = response["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"][0]["function"] == {"name": "finish", "arguments": '{"result": "ok"}'}
    assert response["usage"]["prompt_tokens"] == 10 and response["model"] == "qwen"
    assert isinstance(llama.kwargs["grammar"], LlamaGrammar)
    assert llama.kwargs["grammar"]._grammar.startswith("root ::= preamble? tool-calls\n")  # pyright: ignore[reportPrivateUsage]
    assert llama.kwargs["temperature"] == 0.0 and llama.kwargs["max_tokens"] == 64


def test_a_missing_tool_choice_with_tools_is_auto_and_text_is_the_content() -> None:
    llama = FakeLlama("The file has one row.")
    response = handle_chat_completion(llama=llama, messages=_conversation(), tools=[READ])
    assert isinstance(response, dict)
    assert response["choices"][0]["message"] == {"role": "assistant", "content": "The file has one row."}
    assert response["choices"][0]["finish_reason"] == "stop"
    assert llama.kwargs["grammar"]._grammar.startswith("root ::= preamble? tool-calls | message\n")  # pyright: ignore[reportPrivateUsage]
    assert "# Tools" in llama.prompt


def test_without_tools_the_template_renders_no_tool_section_and_no_grammar_applies() -> None:
    llama = FakeLlama("hello")
    handle_chat_completion(llama=llama, messages=[{"role": "user", "content": "hi"}])
    assert llama.kwargs["grammar"] is None and "# Tools" not in llama.prompt


def test_legacy_functions_are_read_as_tools() -> None:
    llama = FakeLlama('<tool_call>\n{"name": "finish", "arguments": {"result": "r"}}\n</tool_call>')
    response = handle_chat_completion(
        llama=llama, messages=_conversation(), functions=[FINISH["function"]], function_call={"name": "finish"}
    )
    assert (
        isinstance(response, dict)
        and response["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "finish"
    )
    assert "fs__read_text_file" not in llama.kwargs["grammar"]._grammar  # pyright: ignore[reportPrivateUsage]


def test_a_stream_gets_the_reply_in_one_chunk_then_the_finish() -> None:
    reply = '<tool_call>\n{"name": "finish", "arguments": {"result": "ok"}}\n</tool_call>'
    chunks = list(handle_chat_completion(llama=FakeLlama(reply), messages=_conversation(), tools=[FINISH], stream=True))
    assert [c["object"] for c in chunks] == ["chat.completion.chunk"] * 2
    delta = chunks[0]["choices"][0]["delta"]
    assert delta["tool_calls"][0]["index"] == 0 and delta["tool_calls"][0]["function"]["name"] == "finish"
    assert chunks[1]["choices"][0]["finish_reason"] == "tool_calls"


def test_register_makes_the_chat_format_resolvable() -> None:
    register()
    register()  # a second registration replaces the first
    assert get_chat_completion_handler(CHAT_FORMAT) is handle_chat_completion


def test_the_launcher_registers_turns_off_extra_buffer_types_and_passes_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import llama_cpp.llama_cpp as lib
    import llama_cpp.server.__main__ as server

    seen: list[list[str]] = []
    monkeypatch.setattr(server, "main", lambda: seen.append(list(sys.argv[1:])))
    monkeypatch.setattr(lib, "llama_model_default_params", lib.llama_model_default_params)  # restored afterwards
    monkeypatch.setattr(sys, "argv", ["prog"])
    llama_server.main(["--model", "m.gguf", "--extra_buffer_types", "off", "--chat_format", CHAT_FORMAT])
    assert seen == [["--model", "m.gguf", "--chat_format", CHAT_FORMAT]]
    assert lib.llama_model_default_params().use_extra_bufts is False
    assert get_chat_completion_handler(CHAT_FORMAT) is handle_chat_completion

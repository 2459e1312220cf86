"""OpenAIModel against a real llama-cpp-python OpenAI-compatible server on the embedded GGUF.

The server is llama-cpp-python's own (``llama_cpp.server``, started through
``python -m nexthop.models.llama_server --extra_buffer_types off``, which turns off the AMX
code paths these VMs fault on) with the stock ``chatml-function-calling`` handler, on a free port for each test and
stopped after it. These need the ``local`` and ``llama-server`` extras; the model runs on
the CPU, so the task is tiny.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream

from nexthop import AgentHost, tool
from nexthop.models._openai import OpenAIModel
from nexthop.models._weights import ensure_embedded_model

pytestmark = [pytest.mark.embedded, pytest.mark.anyio]

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ("-m", "nexthop.models.llama_server", "--extra_buffer_types", "off")
START_TIMEOUT_S = 120  # loading the 1.1 GB GGUF takes seconds, more on a busy machine
READY = "Uvicorn running on "


@asynccontextmanager
async def _llama_server(
    launcher: tuple[str, ...] = LAUNCHER, chat: tuple[str, ...] = ("--chat_format", "chatml-function-calling")
) -> AsyncIterator[str]:
    """Start the server on port 0 and yield its base URL (``http://127.0.0.1:<port>/v1``).

    ``launcher`` follows the Python executable; ``chat`` are the chat handler's arguments.
    """
    try:
        import llama_cpp.server.app  # noqa: F401 - the import is the check that the extras are in
    except ImportError as e:  # pragma: no cover - the message says what to install
        pytest.fail(f"needs the extras: pip install -e '.[local,llama-server]' ({e})")
    command = [
        sys.executable, *launcher,
        "--model", str(ensure_embedded_model(progress=False)),
        "--model_alias", "qwen",
        *chat,
        "--n_ctx", "4096", "--n_threads", "2",
        "--host", "127.0.0.1", "--port", "0",
    ]  # fmt: skip
    process = await anyio.open_process(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log: list[str] = []
    url: list[str] = []
    ready = anyio.Event()
    try:
        async with anyio.create_task_group() as tg:
            # The log is drained for the server's whole life: a full pipe would block it.
            tg.start_soon(_drain, process, log, url, ready)
            with anyio.fail_after(START_TIMEOUT_S):
                await ready.wait()
            if not url:
                pytest.fail(f"llama_cpp.server exited before listening:\n{''.join(log)[-3000:]}")
            try:
                yield f"{url[0]}/v1"
            finally:
                process.terminate()
    finally:
        with anyio.move_on_after(10, shield=True):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _drain(process: Process, log: list[str], url: list[str], ready: anyio.Event) -> None:
    assert process.stderr is not None
    async for chunk in TextReceiveStream(process.stderr):
        log.append(chunk)
        text = "".join(log[-3:])
        if not ready.is_set() and READY in text:
            url.append(text.split(READY, 1)[1].split()[0])
            ready.set()
    ready.set()  # the server exited: stop waiting either way


def _order_book() -> tuple[dict[int, str], Any]:
    """An order book the tiny tasks write to, and its ``record_order`` tool."""
    orders: dict[int, str] = {}

    @tool
    def record_order(order_id: int, customer: str) -> str:
        """Record one order in the order book.

        Args:
            order_id: The order's number.
            customer: The customer's name.
        """
        orders[order_id] = customer
        return f"order {order_id} recorded for {customer}"

    return orders, record_order


async def test_the_real_server_refuses_null_content_and_takes_ours() -> None:
    """The schema the fake enforces (tests/support/fake_provider.py) is the real one."""
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    async with _llama_server() as base_url, httpx2.AsyncClient(base_url=base_url, timeout=120) as http:
        null = await http.post(
            "/chat/completions",
            json={
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": None, "tool_calls": [call]},
                ]
            },
        )
        assert null.status_code == 500, null.text
        assert "content" in null.json()["error"]["message"]
        empty = await http.post(
            "/chat/completions",
            json={
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "", "tool_calls": [call]},
                    {"role": "user", "content": "Say ok."},
                ],
                "max_tokens": 2,
            },
        )
        assert empty.status_code == 200, empty.text


@pytest.mark.timeout(1800)  # two or three steps of a 1.5B model on a shared 2-core CPU
async def test_openai_model_runs_a_tool_task_on_the_real_server() -> None:
    orders, record_order = _order_book()

    task = "Call record_order to record order 7 for the customer Ada, then call finish."
    async with _llama_server() as base_url:
        # tool_results=user: chatml-function-calling renders no tool messages (docs/models.md).
        model = OpenAIModel("qwen", base_url=base_url, tool_results="user", temperature=0.0, max_retries=0)
        async with AgentHost(model=model, tools=[record_order], max_steps=4) as host:
            with anyio.fail_after(1500):
                result = await host.run(task)
        await model.aclose()
    calls = [(s.thought[:200], [(c.name, c.arguments) for c in s.tool_calls]) for s in result.steps]
    assert orders == {7: "Ada"}, (result.termination, result.result[:300], calls)
    assert result.termination.kind == "completed", (result.termination, calls)


@pytest.mark.timeout(1800)
async def test_the_gguf_tool_calls_handler_runs_a_tool_task_on_the_real_server() -> None:
    """nexthop's handler (docs/models.md): tool messages as they are, one call per reply, calls required."""
    orders, record_order = _order_book()

    launcher = LAUNCHER
    chat = ("--chat_format", "gguf-tool-calls", "--chat_template_kwargs", '{"parallel_tool_calls": false}')
    task = "Call record_order to record order 7 for the customer Ada, then call finish."
    async with _llama_server(launcher, chat) as base_url:
        model = OpenAIModel("qwen", base_url=base_url, tool_choice="required", temperature=0.0, max_retries=0)
        async with AgentHost(model=model, tools=[record_order], max_steps=4) as host:
            with anyio.fail_after(1500):
                result = await host.run(task)
        await model.aclose()
    calls = [(s.thought[:200], [(c.name, c.arguments) for c in s.tool_calls]) for s in result.steps]
    assert orders == {7: "Ada"}, (result.termination, result.result[:300], calls)
    assert result.termination.kind == "completed", (result.termination, calls)
    made = [(c.name, c.arguments) for s in result.steps for c in s.tool_calls]
    assert made[0] == ("record_order", {"order_id": 7, "customer": "Ada"}), calls
    assert made[-1][0] == "finish", calls
    assert all(len(s.tool_calls) == 1 for s in result.steps), calls  # parallel_tool_calls false


@pytest.mark.timeout(1800)
async def test_json_actions_run_a_tool_task_through_the_stock_handler() -> None:
    """``actions=json_object`` on the server's default chat format, the GGUF's own template.

    No tools are sent; ``response_format`` holds the reply to nexthop's schema. Not
    ``chatml-function-calling``: it HTML-escapes every message (docs/models.md).
    """
    orders, record_order = _order_book()

    task = "Record order 7 for the customer Ada."
    async with _llama_server(LAUNCHER, ()) as base_url:
        model = OpenAIModel(
            "qwen", base_url=base_url, actions="json_object", temperature=0.0, repeat_penalty=1.0, max_retries=0
        )
        async with AgentHost(model=model, tools=[record_order], max_steps=4) as host:
            with anyio.fail_after(1500):
                result = await host.run(task)
        await model.aclose()
    calls = [(s.thought[:200], [(c.name, c.arguments) for c in s.tool_calls]) for s in result.steps]
    assert orders == {7: "Ada"}, (result.termination, result.result[:300], calls)
    assert result.termination.kind == "completed", (result.termination, calls)
    assert all(len(s.tool_calls) == 1 for s in result.steps), calls  # one action a reply, by the schema


@pytest.mark.timeout(2400)
async def test_the_readme_task_passes_through_the_real_server_with_json_actions(tmp_path: Path) -> None:
    """Issue 13: ``nexthop run --model openai:<name>@<url>`` completes the README's task.

    The server as it ships, on its default chat format (docs/models.md says why not
    ``chatml-function-calling``); judged by ``examples/check.py``, not by the run's report.
    """
    if shutil.which("npx") is None:
        pytest.fail("npx is needed for the filesystem server: install Node.js 18+")
    examples = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", examples, ignore=shutil.ignore_patterns("work"))
    await anyio.run_process(["bash", str(examples / "setup.sh")])
    task = (ROOT / "Makefile").read_text().split("TASK ?= ", 1)[1].splitlines()[0]
    nexthop = Path(sys.executable).with_name("nexthop")
    async with _llama_server(LAUNCHER, ()) as base_url:
        model = f"openai:qwen@{base_url}?actions=json_object&temperature=0&repeat_penalty=1"
        argv = [str(nexthop), "run", "--config", str(examples / "servers.json"), "--model", model]
        run = await anyio.run_process(
            [*argv, "--max-steps", "14", "--no-store", task],
            check=False,
            env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")},  # no pins from other runs
        )
    check = await anyio.run_process([sys.executable, str(examples / "check.py")], check=False)
    stdout, stderr = run.stdout.decode()[-4000:], run.stderr.decode()[-2000:]
    assert check.returncode == 0, f"{check.stdout.decode()}\n--- nexthop ---\n{stdout}\n{stderr}"
    assert run.returncode == 0, stderr

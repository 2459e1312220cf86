"""The prefix KV cache of the embedded model, across real processes (``-m embedded``).

Each process loads the 1.5B model and asks for one action: the first writes the KV state
of the system prompt to disk, the second restores it instead of evaluating it, and new
tools make a new file. The second reply must equal the first, since restoring the exact
KV bytes and evaluating the same suffix gives the same greedy decode.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

# Three model loads and two cold prefixes: minutes on 2 busy cores.
pytestmark = [pytest.mark.embedded, pytest.mark.timeout(1800)]

# One request in a fresh interpreter; prints the prefix events and the call as JSON.
_CHILD = """
import json, sys, anyio
from nexthop._toolset import FINISH_TOOL, ToolDef
from nexthop._trajectory import Trajectory
from nexthop.models._llama import LlamaCppModel
from nexthop.models._model import ModelRequest

def tool(name, description, *args):
    props = {a: {"type": "string"} for a in args}
    return ToolDef(name=name, description=description,
                   input_schema={"type": "object", "properties": props, "required": list(args)})

TOOLS = {
    "read": tool("read_file", "Read a text file and return its contents.", "path"),
    "write": tool("write_file", "Create or overwrite a text file with the given content.", "path", "content"),
    "list": tool("list_directory", "List the files and folders in a directory.", "path"),
}

async def main(cache_dir, names):
    # One thread: on cores shared with other runs, two threads wait on each other at every op.
    model = LlamaCppModel(n_ctx=4096, n_threads=1, prefix_cache_dir=cache_dir)
    tools = [TOOLS[n] for n in names.split(",")] + [FINISH_TOOL]
    task = "Read the file /data/notes.txt, then write its first line in upper case to /data/out.txt."
    request = ModelRequest(instructions="You are an agent that completes file tasks by calling tools.",
                           trajectory=Trajectory(task=task), tools=tools)
    try:
        response = await model.request(request)
    finally:
        await model.aclose()
    (call,) = response.tool_calls
    print(json.dumps({
        "events": [{"kind": e.kind, "path": str(e.path), "tokens": e.tokens} for e in model.prefix_events],
        "call": [call.name, call.arguments],
        "cached": response.usage.cached_input_tokens,
    }))

anyio.run(main, sys.argv[1], sys.argv[2])
"""


def _one_request(cache_dir: Path, tools: str) -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, "-c", _CHILD, str(cache_dir), tools], capture_output=True, text=True, timeout=900
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_second_process_restores_the_prefix_and_new_tools_make_a_new_file(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="the embedded model needs: pip install 'nexthop[local]'")
    cache = tmp_path / "kv"

    first = _one_request(cache, "read,write,list")
    (saved,) = first["events"]
    assert saved["kind"] == "saved" and Path(saved["path"]).is_file(), first
    assert saved["tokens"] >= 128

    second = _one_request(cache, "read,write,list")
    (loaded,) = second["events"]
    assert loaded == {**saved, "kind": "loaded"}, second
    assert second["cached"] >= saved["tokens"]
    assert second["call"] == first["call"]

    third = _one_request(cache, "read,write")
    (other,) = third["events"]
    assert other["kind"] == "saved" and other["path"] != saved["path"], third
    assert sorted(p.name for p in cache.iterdir()) == sorted(Path(e["path"]).name for e in (saved, other))

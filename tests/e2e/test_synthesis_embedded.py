"""The embedded model writes a tool the servers do not offer, runs it sandboxed, and finishes the task.

Judged by the state left: a SHA-256 digest no 1.5B model can produce by itself. Needs the
``local`` extra, npx (the filesystem server) and bubblewrap (``make test`` installs it).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from embedded import local_model

from nexthop import AgentHost, StdioServerConfig
from nexthop.host._sandbox import SandboxConfig, SandboxMount
from nexthop.policies import PolicyConfig

# It passed once the workspace was mounted read-only (109 s on 2 threads, 243 s on 1 under load);
# before, the model wrote a tool that opened the file by path in a sandbox that could not see it.
# Back under model_eval (out of CI) at stop 17: on this machine and commit it passed 2 of 5 runs,
# the failures writing a digest of the model's own making without calling create_tool. What
# the model achieves is a measure (make bench-synthesis), not a gate; run it with -m model_eval.
pytestmark = [pytest.mark.embedded, pytest.mark.model_eval, pytest.mark.anyio]
FS_PACKAGE = "@modelcontextprotocol/server-filesystem@2026.8.31"


@pytest.mark.timeout(1800)  # 2 CPU cores, five or so steps, a tool's source to generate
async def test_embedded_model_synthesizes_a_checksum_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the run's candidates stay out of the user's library
    text = "nexthop writes its own tools\n"
    work = tmp_path / "work"  # tmp_path is 0700: a written tool (its own uid, as root) could not enter it
    work.mkdir(mode=0o755)
    (work / "notes.txt").write_text(text)
    fs = StdioServerConfig(
        name="fs",
        command="npx",
        args=["-y", FS_PACKAGE, str(work)],
        tools=("read_text_file", "write_file", "list_directory"),
    )
    task = (
        f"Compute the SHA-256 hex digest of the contents of the file {work}/notes.txt and write "
        f"the digest into the file {work}/digest.txt."
    )
    policy = PolicyConfig(synthesize=True)
    sandbox = SandboxConfig(mounts=(SandboxMount(path=work),))  # written tools may read the workspace, not write it
    async with AgentHost(model=local_model(), servers=[fs], max_steps=10, policy=policy, sandbox=sandbox) as host:
        result = await host.run(task)
    calls = [
        (c.name, c.arguments, o.content[:200])
        for s in result.steps
        for c, o in zip(s.tool_calls, s.observations, strict=False)
    ]
    assert any(name == "create_tool" for name, _, _ in calls), calls
    written = work / "digest.txt"
    assert written.exists(), f"no digest.txt; calls were {calls}"
    assert written.read_text().strip() == hashlib.sha256(text.encode()).hexdigest(), calls

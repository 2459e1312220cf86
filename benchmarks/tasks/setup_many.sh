#!/usr/bin/env bash
# Install the extra real MCP servers of `python -m benchmarks.tasks --tools many`; safe to run again.
#
# run.py calls this when --tools many is chosen (after examples/setup.sh has put the SQLite
# server in place). It (a) puts the PyPI git and time servers in their own venv (they run
# under mcp 2.x, but they are not nexthop's dependencies), and (b) fetches the npm memory,
# everything and sequential-thinking servers into npx's cache, so a run is not slowed by
# the download. Versions: keep in step with benchmarks/tasks/_many.py.
#
# Environment (all optional):
#   NEXTHOP_MANY_VENV  where the git and time servers' venv lives
#                      (default: $HOME/.cache/nexthop/many-servers-venv; _many.py reads it too)
#   PYTHON             the python used to make that venv (default: python3; needs >= 3.10)
set -euo pipefail

venv="${NEXTHOP_MANY_VENV:-$HOME/.cache/nexthop/many-servers-venv}"
python="${PYTHON:-python3}"
pypi_packages=("mcp-server-git==2026.10.19" "mcp-server-time==2026.10.19")
npm_packages=(
    "@modelcontextprotocol/server-memory@2026.8.31"
    "@modelcontextprotocol/server-everything@2026.8.31"
    "@modelcontextprotocol/server-sequential-thinking@2026.8.31"
)

# (a) The git and time servers' own venv.
if "$venv/bin/python" -c "import mcp_server_git, mcp_server_time" 2>/dev/null; then
    echo "git and time servers: already in $venv"
else
    echo "git and time servers: installing into $venv ..."
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pypi_packages[@]}"
fi

# (b) The npm servers, into npx's cache. Started with stdin closed each one exits at once;
# the timeout guards against a hang. The everything server needs its transport named.
if ! command -v npx >/dev/null; then
    echo "error: npx not found; install Node.js 18 or later (https://nodejs.org)" >&2
    exit 1
fi
for package in "${npm_packages[@]}"; do
    echo "npm server: fetching $package (once) ..."
    if ! timeout 120 npx -y "$package" stdio </dev/null >/dev/null 2>&1; then
        echo "warning: could not pre-fetch $package; npx will try again when a run starts it" >&2
    fi
done

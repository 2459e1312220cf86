#!/usr/bin/env bash
# Prepare the example in examples/README.md; safe to run again (it resets examples/work/).
#
#   bash examples/setup.sh && nexthop run --config examples/servers.json "<task>"
#
# It (a) puts the SQLite MCP server in its own venv, because mcp-server-sqlite
# crashes under mcp 2.x and needs "mcp<2"; (b) makes a fresh examples/work/ holding
# only orders.csv; (c) fetches the npm filesystem server once so the first run is
# not slowed by the download. servers.json finds both without any exports.
#
# Environment (all optional):
#   NEXTHOP_SQLITE_VENV  where the SQLite server's venv lives
#                        (default: $HOME/.cache/nexthop/sqlite-server-venv; servers.json
#                        reads the same variable, so export it for nexthop too if you set it)
#   PYTHON               the python used to make that venv (default: python3; needs >= 3.10)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${NEXTHOP_SQLITE_VENV:-$HOME/.cache/nexthop/sqlite-server-venv}"
python="${PYTHON:-python3}"
fs_package="@modelcontextprotocol/server-filesystem@2026.8.31"  # keep in step with servers.json

# (a) The SQLite server's own venv.
if "$venv/bin/python" -c "import mcp_server_sqlite" 2>/dev/null; then
    echo "sqlite server: already in $venv"
else
    echo "sqlite server: installing into $venv ..."
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "mcp-server-sqlite==2025.4.25" "mcp<2"
fi

# (b) A fresh working folder: the input CSV and nothing else.
rm -rf "$here/work"
mkdir -p "$here/work"
cp "$here/data/orders.csv" "$here/work/orders.csv"
echo "work folder: $here/work (orders.csv copied, no orders.db)"

# (c) Fetch the filesystem server into npx's cache. Started with stdin closed it
# lists its allowed folder and exits; the timeout guards against a hang.
if ! command -v npx >/dev/null; then
    echo "error: npx not found; install Node.js 18 or later (https://nodejs.org)" >&2
    exit 1
fi
echo "filesystem server: fetching $fs_package (once; about 10 s) ..."
if ! timeout 120 npx -y "$fs_package" "$here/work" </dev/null >/dev/null 2>&1; then
    echo "warning: could not pre-fetch $fs_package; npx will try again when nexthop starts it" >&2
fi

echo "ready: nexthop run --config examples/servers.json \"<task>\" (task text in examples/README.md)"

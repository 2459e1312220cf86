"""Run llama-cpp-python's OpenAI-compatible server with nexthop's ``gguf-tool-calls`` chat handler.

Usage::

    python -m nexthop.models.llama_server --model X.gguf --chat_format gguf-tool-calls \\
        [--extra_buffer_types off] [any other llama_cpp.server argument]

It is ``python -m llama_cpp.server`` with the handler of `nexthop.models._llama_server`
registered first, so ``--chat_format gguf-tool-calls`` resolves; every other argument
is the server's own. ``--extra_buffer_types off`` loads the model without llama.cpp's
extra buffer types (weight repacking): some virtual machines advertise AMX but trap it,
and a wheel built with AMX then dies with SIGILL on the first prompt (`_repack`, docs/models.md).
Needs ``pip install 'nexthop[local,llama-server]'``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from nexthop.models._llama_server import register
from nexthop.models._repack import disable_repack

__all__ = ["main"]

_INSTALL = "pip install 'nexthop[local,llama-server]'"


def main(argv: Sequence[str] | None = None) -> None:
    """Register the handler, then run llama_cpp.server with the remaining arguments.

    Args:
        argv: Command-line arguments; ``sys.argv[1:]`` when None.

    Raises:
        SystemExit: llama-cpp-python or its server's dependencies are missing (the
            message carries the install command), or the server exits.
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--extra_buffer_types", choices=("on", "off"), default="on")
    own, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    try:
        from llama_cpp.server.__main__ import main as server_main
    except ImportError as e:
        raise SystemExit(f"the server needs llama-cpp-python's server extras: {_INSTALL} ({e})") from e
    register()
    if own.extra_buffer_types == "off":
        disable_repack()
    sys.argv = [f"{sys.argv[0]} (llama_cpp.server)", *rest]
    server_main()


if __name__ == "__main__":
    main()

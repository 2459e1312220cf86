"""The benchmarks' guard for CPUs that advertise AMX but fault on it: `nexthop.models._repack`.

Kept so the benchmark runners (``--repack {auto,on,off}``) import it from beside them;
the one implementation lives in the package, which ``python -m nexthop.models.llama_server``
shares.
"""

from __future__ import annotations

from nexthop.models._repack import disable_repack, repack_faults

__all__ = ["disable_repack", "repack_faults"]

import sys
from pathlib import Path

# The benchmarks live outside src/; the repository root makes `benchmarks.tasks` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

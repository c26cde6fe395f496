"""Make `bench/` importable for the harness's tests (`bench/swebench_replay.py` puts it on the path the same way)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

"""Where the benchmarks find the checkout and keep what they write: every shared path, in one place."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # the checkout: benchmarks/common/paths.py is two folders down
REFERENCE = REPO / "reference"
BUNDLE = REPO / "bundles" / "reference-int8"  # the reference bundle `make demo` builds
RESULTS = REPO / "benchmarks" / "results"
RESULTS_MD = REPO / "benchmarks" / "RESULTS.md"
CACHE = REPO / "benchmarks" / ".cache"
# The project's FSDD copy lies beside the checkout (../shared/fsdd); PHONEDGE_FSDD points elsewhere.
FSDD = Path(os.environ.get("PHONEDGE_FSDD") or REPO.parent / "shared" / "fsdd")

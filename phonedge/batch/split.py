"""How many workers and threads per worker: the default split of the cores."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_split(cores: int, workers: int = 0, threads: int = 0) -> tuple[int, int]:
    """(workers, threads per worker) filling CORES; 0 means choose.

    By default one single-threaded worker per core: on the benchmark's sweep (benchmarks/RESULTS.md,
    "Batch") processes scale better than ONNX Runtime's intra-op threads on utterance-length inputs.
    """
    cores = max(1, cores)
    if workers and threads:
        return workers, threads
    if threads:
        return max(1, cores // threads), threads
    if workers:
        return workers, max(1, cores // workers)
    return cores, 1

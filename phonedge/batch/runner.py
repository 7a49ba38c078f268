"""A batch run: resume from the output folder, feed an engine, commit its rows as parts, sum up."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import PhonedgeError
from ..manifest import bundle_digest
from .rows import RowRequest, WorkerSetup, open_path
from .schema import STATUS_OK, Row, pyarrow
from .split import default_split, usable_cores
from .store import FORMATS, OutputDir, PartWriter

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class BatchConfig:
    """How to run: engine, output format, workers (or actors) and threads (0: chosen), part sizes; classify/align."""

    engine: str = "local"
    fmt: str = "parquet"
    workers: int = 0
    threads: int = 0
    ray_address: Optional[str] = None
    classify: str = "ctc"
    align: bool = False
    files_per_task: int = 8
    rows_per_part: int = 1000
    seconds_per_part: float = 60.0

    @property
    def request(self) -> RowRequest:
        """What the workers ask of each input."""
        return RowRequest(self.classify, self.align)


@dataclass(frozen=True)
class ResumePlan:
    """What a run must do: the inputs left, how many were skipped as done, how many failures retried."""

    todo: list[str]
    skipped: int
    retried: int


@dataclass(frozen=True)
class BatchSummary:
    """The outcome of a run."""

    ok: int
    failed: int
    skipped: int
    audio_seconds: float
    wall_seconds: float
    workers: int
    threads: int

    @property
    def audio_hours(self) -> float:
        """Hours of audio transcribed in this run."""
        return self.audio_seconds / 3600

    @property
    def speed(self) -> float:
        """Audio hours transcribed per hour of wall time."""
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def format(self) -> str:
        """One line for people."""
        line = (f"{self.ok} ok, {self.failed} failed, {self.skipped} skipped; {self.audio_hours:.3f} h of audio "
                f"in {self.wall_seconds:.1f} s = {self.speed:.1f} audio-hours per hour")
        return line + (f" ({self.workers} workers x {self.threads} threads)" if self.workers else "")


def plan_resume(out: OutputDir, paths: Sequence[str], digest: str) -> ResumePlan:
    """Skip inputs already ok for DIGEST, and drop their old error rows from the parts so they are retried."""
    done: set[str] = set()
    failed: set[str] = set()
    for row in out.index():
        if row["bundle_digest"] == digest:
            (done if row["status"] == STATUS_OK else failed).add(row["path"])
    unique = list(dict.fromkeys(paths))
    todo = [p for p in unique if p not in done]
    retry = {(p, digest) for p in unique if p in failed}
    if retry:
        out.drop_errors(retry)
    return ResumePlan(todo=todo, skipped=len(unique) - len(todo), retried=len({p for p, _ in retry} - done))


def _engine_rows(bundle: str, items: list[tuple[str, str]], digest: str, config: BatchConfig
                 ) -> tuple[Iterator[Row], int, int]:
    if config.engine == "local":
        from .local import local_rows

        workers, threads = default_split(usable_cores(), config.workers, config.threads)
        workers = max(1, min(workers, len(items)))
        setup = WorkerSetup(bundle, threads, digest, config.request)
        rows = local_rows(setup, items, workers=workers, files_per_task=config.files_per_task)
        return rows, workers, threads
    from .ray_engine import connect, ray_rows

    cpus = int(connect(config.ray_address).get("CPU", 1))
    actors, threads = default_split(cpus, config.workers, config.threads)
    actors = max(1, min(actors, len(items)))
    setup = WorkerSetup(bundle, threads, digest, config.request)
    rows = ray_rows(setup, items, actors=actors, files_per_task=config.files_per_task)
    return rows, actors, threads


def run_batch(
    bundle: str | Path,
    inputs: Sequence[str | Path],
    out: str | Path,
    config: BatchConfig = BatchConfig(),
    progress: Optional[Callable[[ResumePlan, int], None]] = None,
) -> BatchSummary:
    """Transcribe INPUTS (audio paths) into the part files of OUT; resume what an earlier run left.

    Inputs already ``ok`` in OUT for this bundle are skipped, earlier failures retried, repeated
    inputs done once. PROGRESS is called with the plan and 0 before work starts, then with 1 per row.

    Raises:
        ModelBundleError: the bundle is missing or broken.
        BatchOutputError: OUT is held by another run, holds another format or a damaged part.
    """
    start = time.perf_counter()
    if config.engine not in ENGINES:
        raise PhonedgeError(f"engine must be one of {', '.join(ENGINES)}, got {config.engine!r}")
    if config.fmt not in FORMATS:
        raise PhonedgeError(f"format must be one of {', '.join(FORMATS)}, got {config.fmt!r}")
    if config.fmt == "parquet":
        pyarrow()  # before any work: a missing extra is a clear error, not a failure at the first part
    bundle = str(Path(bundle).resolve())
    digest = bundle_digest(Path(bundle))
    ok = failed = 0
    audio = 0.0
    workers = threads = 0
    with OutputDir(Path(out), config.fmt) as store:
        plan = plan_resume(store, [str(p) for p in inputs], digest)
        if progress:
            progress(plan, 0)
        if plan.todo:
            rows, workers, threads = _engine_rows(bundle, [(p, open_path(p)) for p in plan.todo], digest, config)
            writer = PartWriter(store, config.rows_per_part, config.seconds_per_part)
            try:
                for row in rows:
                    writer.add(row)
                    if row["status"] == STATUS_OK:
                        ok += 1
                        audio += row["duration"]
                    else:
                        failed += 1
                    if progress:
                        progress(plan, 1)
            finally:
                writer.flush()  # the rows done so far are kept even when the engine fails
    return BatchSummary(ok=ok, failed=failed, skipped=plan.skipped, audio_seconds=audio,
                        wall_seconds=time.perf_counter() - start, workers=workers, threads=threads)

"""The local engine: worker processes on this machine, each with its own ONNX Runtime session."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Optional

from ..errors import PhonedgeError
from .rows import WorkerSetup, predict_rows
from .schema import Row

# Set in each worker process by _init_worker: (recogniser, its setup), or the load error.
_WORKER: Optional[tuple[Any, WorkerSetup]] = None
_WORKER_ERROR: Optional[PhonedgeError] = None


def _init_worker(setup: WorkerSetup, child: bool = False) -> None:
    global _WORKER, _WORKER_ERROR
    from ..recognizer import load

    if child:  # Ctrl-C is the parent's to handle: it stops feeding work and keeps the rows done
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)

    try:
        _WORKER = (load(setup.bundle, threads=setup.threads), setup)
    except PhonedgeError as exc:  # reported by the first task, as the typed error it is
        _WORKER_ERROR = exc


def _work(items: list[tuple[str, str]]) -> list[Row]:
    if _WORKER is None:
        raise _WORKER_ERROR or PhonedgeError("batch worker has no model")
    rec, setup = _WORKER
    return predict_rows(rec, items, setup.digest, setup.request)


def _chunks(items: Sequence[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def local_rows(
    setup: WorkerSetup, items: Sequence[tuple[str, str]], *, workers: int, files_per_task: int = 8
) -> Iterator[Row]:
    """Rows of (path, opened path) ITEMS, in completion order, from WORKERS processes set up by SETUP.

    One worker runs in this process; more run as spawned processes, fed FILES_PER_TASK inputs at a time.
    """
    if workers <= 1:
        _init_worker(setup)
        for chunk in _chunks(items, files_per_task):
            yield from _work(chunk)
        return
    import multiprocessing

    # spawn, not fork: a forked child would inherit ONNX Runtime's thread pools in an unknown state.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(setup, True)) as pool:
        tasks = _chunks(items, files_per_task)
        pending: set[Future[list[Row]]] = set()
        try:
            while True:
                while len(pending) < 2 * workers:
                    chunk = next(tasks, [])  # _chunks yields no empty chunk: [] marks the end
                    if not chunk:
                        break
                    pending.add(pool.submit(_work, chunk))
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    try:
                        yield from fut.result()
                    except BrokenProcessPool:
                        raise PhonedgeError(
                            "a batch worker process died (killed, or out of memory: try fewer --workers); "
                            "the rows written so far are kept, rerun the same command to resume"
                        ) from None
        finally:
            for fut in pending:
                fut.cancel()

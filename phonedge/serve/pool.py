"""The inference pool: every model call runs on its threads, never on the event loop; live streams go first."""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable, Optional, TypeVar

T = TypeVar("T")

LIVE, BATCH = 0, 1
"""Priorities: a live stream's audio is taken before queued uploads, so a burst of POSTs delays finals little."""
_STOP = 2


class InferencePool:
    """A fixed set of threads (ONNX Runtime releases the GIL while it computes) shared by all clients."""

    def __init__(self, workers: int) -> None:
        """Start ``workers`` threads."""
        self.workers = workers
        self._queue: queue.PriorityQueue[tuple[int, int, Optional[tuple[Callable[[], Any], Future[Any]]]]]
        self._queue = queue.PriorityQueue()
        self._order = itertools.count()
        self._threads = [threading.Thread(target=self._work, name=f"phonedge-infer-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        while True:
            _, _, job = self._queue.get()
            if job is None:
                return
            fn, future = job
            if not future.set_running_or_notify_cancel():
                continue  # its caller went away (e.g. the client disconnected) before it started
            try:
                future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                future.set_exception(exc)

    @property
    def queued(self) -> int:
        """Calls waiting for a thread."""
        return self._queue.qsize()

    async def run(self, fn: Callable[..., T], *args: Any, priority: int = BATCH, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on a pool thread and wait for it without blocking the loop."""
        future: Future[T] = Future()
        self._queue.put((priority, next(self._order), (lambda: fn(*args, **kwargs), future)))
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Stop the threads once the queued calls are done."""
        for _ in self._threads:
            self._queue.put((_STOP, next(self._order), None))
        for thread in self._threads:
            thread.join()

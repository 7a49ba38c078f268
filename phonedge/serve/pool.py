"""The inference pool: every model call runs on its threads, never on the event loop."""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

T = TypeVar("T")


class InferencePool:
    """A fixed set of threads (ONNX Runtime releases the GIL while it computes) shared by all clients."""

    def __init__(self, workers: int) -> None:
        """Start ``workers`` threads."""
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="phonedge-infer")

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on a pool thread and wait for it without blocking the loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Stop the threads once running calls end."""
        self._executor.shutdown(wait=True, cancel_futures=True)

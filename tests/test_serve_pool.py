"""The server's inference pool: runs calls off the event loop, live streams before uploads, errors passed back."""

from __future__ import annotations

import asyncio
import threading

import pytest

from phonedge.serve.pool import BATCH, LIVE, InferencePool


def test_calls_run_on_pool_threads_and_errors_come_back() -> None:
    pool = InferencePool(2)

    async def main() -> None:
        assert (await pool.run(threading.current_thread)).name.startswith("phonedge-infer-")
        with pytest.raises(ZeroDivisionError):
            await pool.run(lambda: 1 / 0)
        assert await asyncio.gather(*(pool.run(pow, i, 2) for i in range(20))) == [i * i for i in range(20)]

    asyncio.run(main())
    pool.close()


def test_live_work_overtakes_queued_uploads_and_cancelled_calls_never_run() -> None:
    pool = InferencePool(1)
    gate, order = threading.Event(), []

    async def main() -> None:
        blocker = asyncio.ensure_future(pool.run(gate.wait))
        await asyncio.sleep(0.05)  # the only thread is now busy
        batch = [asyncio.ensure_future(pool.run(order.append, f"batch{i}", priority=BATCH)) for i in range(3)]
        gone = asyncio.ensure_future(pool.run(order.append, "cancelled", priority=LIVE))
        live = asyncio.ensure_future(pool.run(order.append, "live", priority=LIVE))
        await asyncio.sleep(0.05)
        gone.cancel()
        await asyncio.sleep(0.05)  # the cancellation reaches the pool's future
        assert pool.queued == 5
        gate.set()
        await asyncio.gather(blocker, live, *batch)

    asyncio.run(main())
    pool.close()
    assert order == ["live", "batch0", "batch1", "batch2"]

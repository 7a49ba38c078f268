"""The Ray engine: Ray Data ``map_batches`` over a pool of actors, one ONNX Runtime session per actor.

Only paths travel through Ray's object store (each actor opens the files itself, so the bundle and
the audio must be at the same paths on every node, e.g. a shared file system); rows come back as
Arrow tables in the row schema. Each file's error is caught in the actor and becomes a row, so one
bad file never fails the run (Ray Data would otherwise abort the whole dataset on it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Optional

from ..errors import MissingExtraError, PhonedgeError
from .rows import WorkerSetup, predict_rows
from .schema import Row, from_arrow, to_arrow

class BatchPredictor:
    """A Ray Data actor: one recogniser as SETUP says, rows for batches of paths."""

    def __init__(self, setup: WorkerSetup) -> None:
        """Open the bundle once for the actor's life."""
        from ..recognizer import load

        self._rec = load(setup.bundle, threads=setup.threads)
        self._setup = setup

    def __call__(self, batch: dict[str, Any]) -> Any:
        """Rows (an Arrow table) of a batch holding the columns ``path`` and ``opened``."""
        items = [(str(p), str(o)) for p, o in zip(batch["path"], batch["opened"])]
        return to_arrow(predict_rows(self._rec, items, self._setup.digest, self._setup.request))


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingExtraError("the Ray engine needs Ray: pip install 'phonedge[ray]'") from exc
    return ray


def connect(address: Optional[str]) -> dict[str, float]:
    """Join the Ray cluster at ADDRESS (``auto``, ``HOST:PORT``; None starts a local one); its resources."""
    ray = _ray()
    if not ray.is_initialized():
        import logging

        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING, configure_logging=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise PhonedgeError(f"cannot reach the Ray cluster at {address!r}: {exc}") from exc
    return dict(ray.cluster_resources())


def ray_rows(
    setup: WorkerSetup, items: Sequence[tuple[str, str]], *, actors: int, files_per_task: int = 8
) -> Iterator[Row]:
    """Rows of (path, opened path) ITEMS, in completion order, from ACTORS actors set up by SETUP (its threads each)."""
    ray = _ray()
    from ray.data import ActorPoolStrategy, DataContext

    if not items:
        return
    import logging

    # Ray Data's own progress bars and execution log lines would interleave with ours.
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    # Blocks of whole batches, at least 16 per actor (load balance; little redone when a node is lost).
    per_block = files_per_task * max(1, min(128, len(items) // (16 * actors * files_per_task)))
    blocks = -(-len(items) // per_block)
    ds = ray.data.from_items([{"path": p, "opened": o} for p, o in items], override_num_blocks=blocks)
    ds = ds.map_batches(
        BatchPredictor,
        fn_constructor_kwargs={"setup": setup},
        batch_size=files_per_task,
        batch_format="numpy",
        compute=ActorPoolStrategy(size=actors),
        num_cpus=setup.threads,
    )
    try:
        for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            yield from from_arrow(batch)
    except ray.exceptions.RayError as exc:
        raise PhonedgeError(f"the Ray run failed: {str(exc).strip().splitlines()[0][:300]}; rerun to resume") from exc

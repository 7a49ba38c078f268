"""phonedge batch, Ray engine, on a two-node Ray cluster on 127.0.0.1 started and stopped here.

Rows equal the local engine's to the letter; a node lost mid-run still leaves every file done once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from batch_fixtures import write_bad_files, write_clips
from phonedge.batch import BatchConfig, read_rows, run_batch

pytest.importorskip("pyarrow", reason="phonedge batch writes Parquet with pyarrow: install phonedge[batch]")
pytest.importorskip("ray", reason="the Ray engine's tests need Ray: install phonedge[ray]")

pytestmark = pytest.mark.slow
NODE_ARGS = {"num_cpus": 1, "object_store_memory": 80 * 1024 * 1024}


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[object, object]]:
    """A head node and a worker node, one CPU each; (cluster, worker node)."""
    from ray.cluster_utils import Cluster

    # Ray turns 127.0.0.1 into the machine's outward address unless told this is a one-host cluster.
    saved = os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    c = Cluster(initialize_head=True, connect=False,
                head_node_args={**NODE_ARGS, "node_ip_address": "127.0.0.1", "include_dashboard": False})
    try:
        worker = c.add_node(**NODE_ARGS, node_ip_address="127.0.0.1")
        c.wait_for_nodes()
        assert c.address.startswith("127.0.0.1:")
        yield c, worker
    finally:
        c.shutdown()
        if saved is None:
            os.environ.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
        else:
            os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = saved


def batch_cmd(bundle: Path, listing: Path, out: Path, address: str, actors: int) -> list[str]:
    return [sys.executable, "-c", "from phonedge.cli import main; main()", "batch", "--model", str(bundle),
            f"@{listing}", "--out", str(out), "--engine", "ray", "--ray-address", address,
            "--workers", str(actors), "--threads-per-worker", "1", "--rows-per-part", "10"]


def write_listing(path: Path, files: list[Path]) -> Path:
    path.write_text("\n".join(str(f) for f in files) + "\n")
    return path


def test_ray_rows_equal_local_rows(cluster, reference_bundles: dict, real_recordings: list[Path],
                                   tmp_path: Path) -> None:
    c, _ = cluster
    bundle = reference_bundles["int8"]
    files = [*real_recordings, *write_bad_files(tmp_path / "bad"), tmp_path / "missing.wav"]
    listing = write_listing(tmp_path / "files.txt", files)
    res = subprocess.run(batch_cmd(bundle, listing, tmp_path / "ray", c.address, 2), capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 1, res.stderr  # the four bad inputs
    assert f"{len(real_recordings)} ok, 4 failed, 0 skipped" in res.stderr
    run_batch(bundle, files, tmp_path / "local", BatchConfig(workers=2, threads=1))
    ray_rows = sorted(read_rows(tmp_path / "ray"), key=lambda r: r["path"])
    local_rows = sorted(read_rows(tmp_path / "local"), key=lambda r: r["path"])
    assert len(ray_rows) == len(files) and ray_rows == local_rows
    assert any(r["label_probs"] for r in ray_rows)


def test_node_lost_mid_run_every_file_done_once(cluster, layer_bundle: Path, tmp_path: Path) -> None:
    c, worker = cluster
    clips = write_clips(tmp_path / "a", 300, seconds=1.0)
    listing = write_listing(tmp_path / "files.txt", clips)
    out = tmp_path / "out"
    proc = subprocess.Popen(batch_cmd(layer_bundle, listing, out, c.address, 2), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while len(list(out.glob("part-*"))) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        done_at_loss = len(read_rows(out))
        c.remove_node(worker, allow_graceful=False)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert done_at_loss < len(clips), "the node was removed after the run ended"
    if proc.returncode != 0:  # the run may fail with the node; a rerun on what is left resumes it
        res = subprocess.run(batch_cmd(layer_bundle, listing, out, c.address, 1), capture_output=True, text=True,
                             timeout=300)
        assert res.returncode == 0, (err, res.stderr)
    rows = read_rows(out)
    assert sorted(r["path"] for r in rows) == sorted(str(p) for p in clips)  # nothing lost, nothing twice
    assert all(r["status"] == "ok" for r in rows)

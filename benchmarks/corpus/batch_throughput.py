"""Corpus throughput of `phonedge batch`: one-process predict, the local engine's workers x threads
sweep, the Ray engine (1 and 2 actors on a two-node Ray cluster on this host), Ray's start-up and
per-file overhead.

Every figure is one `phonedge` command run in a fresh process and timed from outside (start-up
included), all in this same run on this machine; compare them as ratios. Run it under the heavy
lock: `flock /tmp/phonedge-heavy.lock .venv/bin/python -m benchmarks.corpus.batch_throughput`.

Usage: python -m benchmarks.corpus.batch_throughput [--bundle B] [--audio DIR] [--limit N] [--clips N --clip-seconds S]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from benchmarks.common import environment, sections
from benchmarks.common.paths import FSDD, REPO

PHONEDGE = [sys.executable, "-c", "from phonedge.cli import main; main()"]
RESULTS = REPO / "benchmarks" / "results"


def _log(message: str) -> None:
    print(f"[batch-bench] {message}", file=sys.stderr, flush=True)


def make_clips(src: list[Path], n: int, seconds: float, folder: Path) -> list[Path]:
    """N WAV clips of SECONDS each at 16 kHz, made by concatenating the source recordings in order."""
    import numpy as np
    import soundfile as sf

    from phonedge.audio import prepare_audio

    folder.mkdir(parents=True, exist_ok=True)
    need = int(seconds * 16000)
    out, buf, i = [], np.zeros(0, dtype=np.float32), 0
    while len(out) < n:
        while len(buf) < need:
            buf = np.concatenate([buf, prepare_audio(src[i % len(src)], None, 16000, 400)])
            i += 1
        path = folder / f"clip{len(out):05d}.wav"
        sf.write(path, buf[:need], 16000, subtype="PCM_16")
        buf = buf[need:]
        out.append(path)
    return out


def timed(cmd: list[str], env: Optional[dict[str, str]] = None) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if res.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd[3:])} failed ({res.returncode}): {res.stderr[-2000:]}")
    return wall, res


def audio_seconds(out: Path) -> tuple[int, float]:
    from phonedge.batch import read_rows

    rows = read_rows(out)
    return sum(r["status"] == "ok" for r in rows), sum(r["duration"] or 0.0 for r in rows)


def run_predict(bundle: Path, listing: Path, threads: int) -> dict[str, Any]:
    wall, res = timed([*PHONEDGE, "predict", "--json", "--threads", str(threads), "--model", str(bundle),
                       f"@{listing}"])
    records = [json.loads(line) for line in res.stdout.splitlines()]
    return {"wall_s": wall, "files": len(records), "audio_s": sum(r["duration"] for r in records)}


def run_batch_cli(bundle: Path, listing: Path, work: Path, extra: list[str],
                  env: Optional[dict[str, str]] = None) -> dict[str, Any]:
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    wall, res = timed([*PHONEDGE, "batch", "--model", str(bundle), f"@{listing}", "--out", str(out), *extra], env)
    files, audio = audio_seconds(out)
    return {"wall_s": wall, "files": files, "audio_s": audio, "summary": res.stderr.strip().splitlines()[-1]}


def start_cluster() -> tuple[Any, float, dict[str, str]]:
    """A head and a worker node on 127.0.0.1, one CPU each; (cluster, seconds to start, env for drivers)."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # keep Ray on 127.0.0.1
    from ray.cluster_utils import Cluster

    start = time.perf_counter()
    cluster = Cluster(initialize_head=True, connect=False,
                      head_node_args={"num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False})
    cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
    cluster.wait_for_nodes()
    return cluster, time.perf_counter() - start, dict(os.environ)


def rate(item: dict[str, Any]) -> float:
    """Audio hours per hour of wall time."""
    return item["audio_s"] / item["wall_s"]


def markdown(res: dict[str, Any]) -> str:
    env = res["environment"]
    cpu = env["cpu"]
    lines = [f"### {res['title']}", "",
             f"- Date: {env['date']}; git commit {env['git_commit']}; CPU: {cpu['model']} "
             f"({cpu['affinity_cpus']} usable CPUs); load average (1, 5, 15 min) {env['load_average_at_start']} "
             "(other jobs shared these cores: compare rows as ratios within this run)",
             f"- Bundle: `{res['bundle']}` ({res['bundle_mb']:.1f} MB); input: {res['input']}: "
             f"{res['files']} files, {res['audio_s'] / 3600:.3f} h of audio",
             "- Each row is one command in a fresh process, timed from outside (start-up, model load and the "
             "Parquet writes included). Reproduce: `.venv/bin/python -m "
             f"benchmarks.corpus.batch_throughput {res['args']}`", "",
             "| Run | Workers x threads | Wall s | Files/s | Audio-h per h | vs best |",
             "|---|---|---:|---:|---:|---:|"]
    best = max(rate(r) for r in res["runs"])
    for r in res["runs"]:
        lines.append(f"| {r['name']} | {r['split']} | {r['wall_s']:.1f} | {r['files'] / r['wall_s']:.1f} | "
                     f"{rate(r):.1f} | {rate(r) / best:.2f} |")
    lines += [""]
    d = res["derived"]
    lines += [f"- Default split ({d['default_split']}) vs best of the sweep ({d['best_split']}): "
              f"{d['default_vs_best']:.2f}; vs one-process `predict --threads 2`: {d['default_vs_predict']:.2f}."]
    if "ray_startup_s" in d:
        lines += [f"- Ray start-up: a two-node cluster on this host in {d['ray_startup_s']:.1f} s; "
                  f"a Ray run of one file (driver connect, actors, bundle loads) {d['ray_fixed_s']:.1f} s "
                  f"against {d['local_fixed_s']:.1f} s for the local engine.",
                  f"- Marginal time per file ((wall of all - wall of one) / (files - 1)): local engine "
                  f"{1000 * d['local_per_file_s']:.2f} ms, Ray engine {1000 * d['ray_per_file_s']:.2f} ms "
                  "(both 2 x 1): "
                  + (f"Ray adds {1000 * extra:.2f} ms per file"
                     if (extra := d['ray_per_file_s'] - d['local_per_file_s']) > 0 else
                     f"no per-file overhead of Ray shows (difference {1000 * extra:.2f} ms, within this run's noise)")
                  + f"; Ray 2 actors vs the local default: {d['ray_vs_local']:.2f} of its throughput "
                  "(wall incl. start-up)."]
    lines += [f"- Best run per usable CPU: {d['per_core_rate']:.1f} audio-hours per CPU-hour."]
    lines += [f"- Note: {note}" for note in res.get("notes", [])] + [""]
    return "\n".join(lines)


def results_section() -> str:
    """The "Batch" section of RESULTS.md: every results/batch*.md this script wrote ("" when none)."""
    parts = [p.read_text(encoding="utf-8").strip() for p in sorted(RESULTS.glob("batch*.md"))]
    if not parts:
        return ""
    return "\n\n".join(["## Batch (corpus throughput, `phonedge batch`)", *parts]) + "\n"


def write_markdown(text: str, name: str, results_md: bool) -> None:
    """results/NAME.md, then the Batch section at the end of RESULTS.md rebuilt from all of them."""
    (RESULTS / f"{name}.md").write_text(text + "\n", encoding="utf-8")
    if results_md:
        sections.write("batch", results_section())


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, default=REPO / "bundles" / "reference-int8")
    ap.add_argument("--audio", type=Path, default=FSDD / "recordings")
    ap.add_argument("--limit", type=int, default=0, help="use the first N recordings (0: all)")
    ap.add_argument("--clips", type=int, default=0, help="instead: N clips made by concatenating the recordings")
    ap.add_argument("--clip-seconds", type=float, default=10.0)
    ap.add_argument("--sweep", default="1x1,1x2,2x1,2x2,4x1", help="workers x threads of the local engine")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--name", default="batch", help="results/NAME.json and results/NAME.md")
    ap.add_argument("--no-results-md", action="store_true", help="do not append the section to RESULTS.md")
    ap.add_argument("--title", default="", help="heading of this run's section")
    ap.add_argument("--render", action="store_true", help="only rewrite the markdown from results/NAME.json")
    args = ap.parse_args(argv)
    if args.render:
        res = json.loads((RESULTS / f"{args.name}.json").read_text(encoding="utf-8"))
        res["title"] = args.title or res.get("title") or args.name
        write_markdown(markdown(res), args.name, not args.no_results_md)
        return 0
    recordings = sorted(args.audio.glob("*.wav"))
    if args.limit:
        recordings = recordings[: args.limit]
    env = environment.describe(REPO)
    work = Path(tempfile.mkdtemp(prefix="phonedge-batch-bench-"))
    try:
        if args.clips:
            files = make_clips(recordings, args.clips, args.clip_seconds, work / "clips")
            source = f"{args.clips} clips of {args.clip_seconds:g} s (FSDD recordings concatenated, 16 kHz)"
        else:
            files, source = recordings, f"FSDD recordings in {args.audio}"
        listing = work / "files.txt"
        listing.write_text("\n".join(str(f) for f in files) + "\n")
        one = work / "one.txt"
        one.write_text(f"{files[0]}\n")
        runs: list[dict[str, Any]] = []
        _log(f"{len(files)} files; predict --threads 2")
        runs.append({"name": "predict (one process)", "split": "1 x 2", **run_predict(args.bundle, listing, 2)})
        from phonedge.batch.split import default_split, usable_cores

        cores = usable_cores()
        dw, dt = default_split(cores)
        for spec in args.sweep.split(","):
            w, t = (int(x) for x in spec.split("x"))
            _log(f"local {w} x {t}")
            item = run_batch_cli(args.bundle, listing, work, ["--workers", str(w), "--threads-per-worker", str(t)])
            runs.append({"name": "local engine" + (" (default)" if (w, t) == (dw, dt) else ""),
                         "split": f"{w} x {t}", **item})
        derived: dict[str, Any] = {}
        local = [r for r in runs if r["name"].startswith("local")]
        best = max(local, key=rate)
        default = next(r for r in local if r["name"].endswith("(default)"))
        derived.update(default_split=f"{dw} x {dt}", best_split=best["split"],
                       default_vs_best=rate(default) / rate(best), default_vs_predict=rate(default) / rate(runs[0]))
        _log("local default on one file (fixed cost)")
        local_one = run_batch_cli(args.bundle, one, work, ["--workers", str(dw), "--threads-per-worker", str(dt)])
        derived["local_fixed_s"] = local_one["wall_s"]
        derived["local_per_file_s"] = (default["wall_s"] - local_one["wall_s"]) / max(1, len(files) - 1)
        if not args.no_ray:
            cluster, startup, ray_env = start_cluster()
            try:
                derived["ray_startup_s"] = startup
                address = cluster.address
                for actors in (1, 2):
                    _log(f"ray {actors} actor(s)")
                    item = run_batch_cli(args.bundle, listing, work, ["--engine", "ray", "--ray-address", address,
                                                                     "--workers", str(actors),
                                                                     "--threads-per-worker", "1"], ray_env)
                    runs.append({"name": "ray engine, 2-node cluster", "split": f"{actors} actor x 1", **item})
                ray_args = ["--engine", "ray", "--ray-address", address, "--workers", "2", "--threads-per-worker", "1"]
                ray_one = run_batch_cli(args.bundle, one, work, ray_args, ray_env)
            finally:
                cluster.shutdown()
            ray2 = runs[-1]
            derived["ray_fixed_s"] = ray_one["wall_s"]
            derived["ray_per_file_s"] = (ray2["wall_s"] - ray_one["wall_s"]) / max(1, len(files) - 1)
            derived["ray_vs_local"] = rate(ray2) / rate(default)
        derived["per_core_rate"] = max(rate(r) for r in runs) / cores
        bundle_mb = sum(f.stat().st_size for f in args.bundle.iterdir()) / 1e6
        bundle = args.bundle.resolve()
        res = {"title": args.title or f"{bundle.name}: {source.split(' in ')[0]}", "environment": env,
               "bundle": str(bundle.relative_to(REPO)) if bundle.is_relative_to(REPO) else str(bundle),
               "bundle_mb": bundle_mb,
               "input": source, "files": len(files), "audio_s": runs[0]["audio_s"], "runs": runs,
               "derived": derived, "args": " ".join(argv if argv is not None else sys.argv[1:])}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    text = markdown(res)
    write_markdown(text, args.name, not args.no_results_md)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

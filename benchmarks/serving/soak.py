"""Soak run of ``phonedge serve``: the serve load round (benchmarks/serving/serve_load.py) repeated for N minutes.

Each round is 8 real-time WebSocket streams of FSDD recordings and a burst of POSTs, every final
and answer checked against the library. The server's RSS is read after every round; the goal
(issue #23) is RSS after the whole run within 2% of RSS after its first 5 minutes, zero errors,
finals identical to the library's.
Usage: python -m benchmarks.serving.soak [--minutes 30] [--bundle DIR] [--posts 40] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, Optional

from benchmarks.common import sections
from benchmarks.common.environment import cpu_line, load_average
from benchmarks.serving.serve_load import AUDIO, REPO, load_round, stream_files, stream_plan, summarise


def plan_for(rec: Any, streams: int, posts: int, pause: float) -> dict[str, Any]:
    """The load of one round: streams of four recordings each, and POSTs of others, with the library's answers."""
    chosen = stream_files(streams)
    used = {f for files in chosen for f in files}
    others = [f for f in sorted(AUDIO.glob("*.wav")) if f not in used] or sorted(AUDIO.glob("*.wav"))
    post_files = [others[i % len(others)] for i in range(posts)]
    predicted = {f: rec.predict(f).to_dict(timestamps=False) for f in set(post_files)}
    return {"streams": [stream_plan(rec, files, pause) for files in chosen],
            "posts": [(f, predicted[f]) for f in post_files]}


def soak(bundle: Path, minutes: float, streams: int, posts: int, workers: int) -> dict[str, Any]:
    """Rounds until MINUTES have passed; RSS (MiB) and elapsed minutes after each."""
    import psutil

    import phonedge
    from benchmarks.serving.serve_process import ServerProcess

    rec = phonedge.load(bundle, threads=1)
    plan = plan_for(rec, streams, posts, 1.2)
    rounds: list[dict[str, Any]] = []
    samples: list[tuple[float, float]] = []
    server = ServerProcess(bundle, "--workers", str(workers), "--max-streams", str(streams + 2))
    with server:
        proc = psutil.Process(server.proc.pid)  # type: ignore[union-attr]
        start = time.perf_counter()
        while time.perf_counter() - start < minutes * 60:
            rounds.append(asyncio.run(asyncio.wait_for(load_round(server.url, plan, 2.0), 300)))
            samples.append(((time.perf_counter() - start) / 60, proc.memory_info().rss / 2**20))
            print(f"round {len(rounds)}: {samples[-1][0]:.1f} min, RSS {samples[-1][1]:.1f} MiB", file=sys.stderr)
    code, _ = server.stop()
    return {"summary": summarise(rounds, []), "rss": samples, "server_exit_code": code, "minutes": minutes,
            "streams": streams, "posts": posts, "workers": workers}


def rss_at(samples: list[tuple[float, float]], minute: float) -> Optional[float]:
    """RSS after the last round that ended by MINUTE (None before the first)."""
    before = [rss for t, rss in samples if t <= minute]
    return before[-1] if before else None


def markdown(r: dict[str, Any]) -> str:
    """The soak section of RESULTS.md."""
    s, samples = r["summary"], r["rss"]
    five, end = rss_at(samples, 5.0) or samples[0][1], samples[-1][1]
    later = [rss for t, rss in samples if t > 5.0] or [end]
    return "\n".join([
        f"## Soak: {r['minutes']:g} minutes of the serve load round",
        "",
        "| Rounds | Streams | Finals identical / expected | POSTs same as predict / sent | Errors | "
        "RSS after 5 min MiB | RSS at the end MiB | Change | Max after 5 min MiB |",
        "|---:|---:|---|---|---:|---:|---:|---:|---:|",
        f"| {len(samples)} | {s['streams']} | {s['finals_identical']} / {s['finals_expected']} | "
        f"{s['posts_same_as_predict']} / {s['posts']} | {s['errors']} | {five:.1f} | {end:.1f} | "
        f"{(end - five) / five * 100:+.2f}% | {max(later):.1f} |",
        "",
        f"RSS after each round, MiB (every 10th): {', '.join(f'{rss:.1f}' for _, rss in samples[::10])}.",
        f"Each round: {r['streams']} real-time streams of 4 FSDD recordings and {r['posts']} POSTs, "
        f"{r['workers']} workers, default limits. `python -m benchmarks.serving.soak --minutes {r['minutes']:g}`; "
        f"{cpu_line()}; load average {load_average()}; the machine was shared with other work.",
    ])


def main(argv: Optional[list[str]] = None) -> int:
    """Run, print the section, and (--write) put it into RESULTS.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=REPO / "bundles" / "reference-int8")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--posts", type=int, default=40)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args(argv)
    result = soak(args.bundle, args.minutes, args.streams, args.posts, args.workers)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    text = markdown(result)
    print(text)
    if args.write:
        sections.write("soak", text)
    s = result["summary"]
    return 0 if s["errors"] == 0 and s["finals_identical"] == s["finals_expected"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Load run of ``phonedge serve`` on 127.0.0.1: concurrent real-time WebSocket streams and a burst of POSTs.

Usage: python -m benchmarks.serving.serve_load [--bundle bundles/reference-int8] [--streams 8] [--posts 100]
       [--workers 2] [--rounds 2] [--time-limit 300] [--out benchmarks/results] [--md benchmarks/RESULTS.md]

Each stream plays 4 FSDD test recordings (reference/audio, one of each digit where possible) separated by
pauses, as 16 kHz pcm16 in 100 ms frames sent at real-time pace; while they run, ``--posts`` POSTs of other
recordings go out at once. Every final's label and every POST's answer is checked against
``Recognizer.predict`` on the same recording in this process; the server's RSS is read before and after
each round. Bounded: each round has a time limit, the run has a fixed count of requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

import numpy as np

from benchmarks.common.environment import describe
from benchmarks.common import sections
from benchmarks.serving.serve_report import markdown_section
from benchmarks.common.paths import REPO

AUDIO = REPO / "reference" / "audio"
RATE = 16000
FRAME_SECONDS = 0.1


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", type=Path, default=REPO / "bundles" / "reference-int8")
    p.add_argument("--streams", type=int, default=8)
    p.add_argument("--posts", type=int, default=100)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--pause", type=float, default=1.2, help="seconds of silence between a stream's recordings")
    p.add_argument("--rounds", type=int, default=4, help="load rounds after the warm-up (RSS read after each)")
    p.add_argument("--time-limit", type=float, default=300.0, help="seconds one round may take")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    p.add_argument("--md", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    return p.parse_args(argv)


def stream_files(n_streams: int) -> list[list[Path]]:
    """For stream i, four recordings (digits 0-3, speakers and takes varied between streams)."""
    by_digit = {d: sorted(AUDIO.glob(f"{d}_*.wav")) for d in "0123"}
    return [[by_digit[d][(i * 3 + k) % len(by_digit[d])] for k, d in enumerate("0123")] for i in range(n_streams)]


def pcm16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1, 1 - 2**-15) * 32768).astype("<i2").tobytes()


def percentile(values: list[float], q: float) -> Optional[float]:
    return round(float(np.percentile(values, q)), 4) if values else None


FINAL_KEYS = ("text", "label", "start", "end")


def library_finals(rec: Any, pcm: bytes) -> list[dict[str, Any]]:
    """The finals ``Recognizer.stream`` gives for the same samples in-process: what the server must send."""
    stream = rec.stream()
    events = stream.accept(np.frombuffer(pcm, "<i2"), RATE) + stream.finish()
    return [{k: e.to_dict()[k] for k in FINAL_KEYS} for e in events if e.kind == "final"]


def stream_plan(rec: Any, files: list[Path], pause: float) -> dict[str, Any]:
    """One stream's audio (pcm16 bytes), each recording's span and digit, and the library's finals."""
    from benchmarks.serving.serve_process import utterances_with_pauses

    audio, spans = utterances_with_pauses(files, rate=RATE, pause=pause, lead=0.5)
    pcm = pcm16(audio)
    return {"pcm": pcm, "spans": spans, "digits": [f.name.split("_")[0] for f in files],
            "expected": library_finals(rec, pcm)}


def digit_hits(finals: list[dict[str, Any]], spans: list[tuple[float, float]], digits: list[str]) -> int:
    """Recordings with a final that overlaps them and carries their digit as its label."""
    return sum(any(f["start"] < end and f["end"] > start and f["label"] == d for f in finals)
               for (start, end), d in zip(spans, digits))


async def run_stream(url: str, plan: dict[str, Any]) -> dict[str, Any]:
    """Play one stream in real time; every final with the wall time it arrived."""
    from websockets.asyncio.client import connect

    data = plan["pcm"]
    step = int(RATE * FRAME_SECONDS) * 2
    sent_at: list[float] = []  # wall time each frame went out; frame k holds [k, k+1) * FRAME_SECONDS
    finals: list[dict[str, Any]] = []
    errors: list[str] = []
    summary: Optional[dict[str, Any]] = None
    async with connect(url.replace("http", "ws", 1) + "/v1/stream", open_timeout=30, max_size=2**22) as ws:
        await ws.send(json.dumps({"sample_rate": RATE, "format": "pcm16"}))
        ready = json.loads(await ws.recv())
        if ready.get("kind") != "ready":
            raise RuntimeError(f"not ready: {ready}")

        async def receive() -> None:
            nonlocal summary
            async for raw in ws:
                msg = json.loads(raw)
                if msg["kind"] == "final":
                    finals.append({**msg, "received": time.perf_counter()})
                elif msg["kind"] == "summary":
                    summary = msg
                elif msg["kind"] == "error":
                    errors.append(msg["error"])

        reader = asyncio.create_task(receive())
        t0 = time.perf_counter()
        for k, pos in enumerate(range(0, len(data), step)):
            await asyncio.sleep(max(0.0, t0 + k * FRAME_SECONDS - time.perf_counter()))
            await ws.send(data[pos : pos + step])
            sent_at.append(time.perf_counter())
        await ws.send(json.dumps({"type": "stop"}))
        await reader

    def sent(t: float) -> float:
        return sent_at[min(len(sent_at) - 1, int(t / FRAME_SECONDS))]

    got = [{k: f.get(k) for k in FINAL_KEYS} for f in finals]
    expected = plan["expected"]
    spoken = [f for f in finals if f.get("text")]
    return {
        "expected": len(expected),
        "received": len(got),
        "identical": sum(g == e for g, e in zip(got, expected)),
        "library_digit_hits": digit_hits(expected, plan["spans"], plan["digits"]),
        "digit_hits": digit_hits(got, plan["spans"], plan["digits"]),
        "utterances": len(plan["spans"]),
        "after_speech_end": [f["received"] - sent(f["end"]) for f in spoken],
        "after_trigger": [f["received"] - sent(max(0.0, f["emitted_at"] - 1e-6)) for f in spoken],
        "summary_finals": len(summary["finals"]) if summary else None,
        "errors": errors + ([] if summary else ["no summary"]),
    }


async def run_post(client: Any, url: str, path: Path, expected: dict[str, Any]) -> dict[str, Any]:
    t = time.perf_counter()
    try:
        r = await client.post(url + "/v1/predict", content=path.read_bytes())
    except Exception as exc:  # noqa: BLE001 - a failed request is a counted error, not a crash
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "seconds": time.perf_counter() - t}
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    same = r.status_code == 200 and body.get("text") == expected["text"] and body.get("label") == expected["label"]
    return {"ok": r.status_code == 200, "same": same, "status": r.status_code, "seconds": time.perf_counter() - t}


async def load_round(url: str, plan: dict[str, Any], posts_delay: float) -> dict[str, Any]:
    import httpx

    streams = [asyncio.create_task(run_stream(url, item)) for item in plan["streams"]]
    await asyncio.sleep(posts_delay)  # the burst lands while every stream is mid-utterance
    limits = httpx.Limits(max_connections=len(plan["posts"]), max_keepalive_connections=len(plan["posts"]))
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        t = time.perf_counter()
        posts = await asyncio.gather(*(run_post(client, url, p, e) for p, e in plan["posts"]))
        posts_wall = time.perf_counter() - t
    stream_results = await asyncio.gather(*streams, return_exceptions=True)
    return {"streams": stream_results, "posts": posts, "posts_wall": posts_wall}


def summarise(rounds: list[dict[str, Any]], rss: list[int]) -> dict[str, Any]:
    """Totals over the rounds: finals against the library's, POSTs against predict, latencies, errors, RSS."""
    streams = [s for r in rounds for s in r["streams"]]
    failed = [repr(s) for s in streams if isinstance(s, BaseException)]
    ok = [s for s in streams if not isinstance(s, BaseException)]
    posts = [p for r in rounds for p in r["posts"]]
    after_end = [x for s in ok for x in s["after_speech_end"]]
    after_trigger = [x for s in ok for x in s["after_trigger"]]
    post_seconds = [p["seconds"] for p in posts]
    return {
        "streams": len(streams),
        "streams_failed": len(failed),
        "utterances": sum(s["utterances"] for s in ok),
        "finals_expected": sum(s["expected"] for s in ok),
        "finals_received": sum(s["received"] for s in ok),
        "finals_identical": sum(s["identical"] for s in ok),
        "finals_lost": sum(max(0, s["expected"] - s["received"]) for s in ok),
        "finals_extra": sum(max(0, s["received"] - s["expected"]) for s in ok),
        "digit_hits": sum(s["digit_hits"] for s in ok),
        "library_digit_hits": sum(s["library_digit_hits"] for s in ok),
        "summary_matches": all(s["summary_finals"] == s["received"] for s in ok),
        "final_latency_after_speech_end_s": {"p50": percentile(after_end, 50), "p90": percentile(after_end, 90),
                                             "max": percentile(after_end, 100)},
        "final_latency_after_trigger_s": {"p50": percentile(after_trigger, 50),
                                          "p90": percentile(after_trigger, 90)},
        "posts": len(posts),
        "posts_ok": sum(p["ok"] for p in posts),
        "posts_same_as_predict": sum(bool(p.get("same")) for p in posts),
        "post_latency_s": {"p50": percentile(post_seconds, 50), "p90": percentile(post_seconds, 90),
                           "max": percentile(post_seconds, 100)},
        "posts_wall_s": [round(r["posts_wall"], 3) for r in rounds],
        "errors": len(failed) + sum(len(s["errors"]) for s in ok) + sum(not p["ok"] for p in posts),
        "error_samples": (failed + [e for s in ok for e in s["errors"]])[:5],
        "rss_mib": [round(x / 2**20, 1) for x in rss],
    }


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    import psutil

    import phonedge
    from benchmarks.serving.serve_process import ServerProcess

    if not (args.bundle / "phonedge.json").is_file():
        print(f"error: no bundle at {args.bundle}; run `make demo` first (it builds bundles/reference-int8)",
              file=sys.stderr)
        return 2
    env = describe(REPO)
    env["serve_versions"] = {n: metadata.version(n) for n in ("starlette", "uvicorn", "websockets", "httpx")}
    rec = phonedge.load(args.bundle, threads=1)
    chosen = stream_files(args.streams)
    used = {f for files in chosen for f in files}
    others = [f for f in sorted(AUDIO.glob("*.wav")) if f not in used] or sorted(AUDIO.glob("*.wav"))
    post_files = [others[i % len(others)] for i in range(args.posts)]
    predicted = {f: rec.predict(f).to_dict(timestamps=False) for f in set(post_files)}
    plan = {"streams": [stream_plan(rec, files, args.pause) for files in chosen],
            "posts": [(f, predicted[f]) for f in post_files]}

    rounds, rss = [], []
    server = ServerProcess(args.bundle, "--workers", str(args.workers), "--max-streams", str(args.streams + 2))
    with server:
        proc = psutil.Process(server.proc.pid)  # type: ignore[union-attr]
        warm = asyncio.run(load_round(server.url, plan, 2.0))  # the same load once: allocators reach their size
        rss.append(proc.memory_info().rss)
        for i in range(args.rounds):
            t = time.perf_counter()
            result = asyncio.run(asyncio.wait_for(load_round(server.url, plan, 2.0), args.time_limit))
            rss.append(proc.memory_info().rss)
            rounds.append(result)
            print(f"round {i + 1}: {time.perf_counter() - t:.1f} s, RSS {rss[-1] / 2**20:.1f} MiB", file=sys.stderr)
    code, output = server.stop()
    record = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "environment": env,
        "warm_up_errors": summarise([warm], [])["errors"],
        "streams": [{"files": [f.name for f in files], "library_finals": item["expected"]}
                    for files, item in zip(chosen, plan["streams"])],
        "summary": summarise(rounds, rss),
        "server_exit_code": code,
        "server_log_tail": output.splitlines()[-5:],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serve_load.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    section = markdown_section(record)
    sections.write("serve", section, args.md)
    print(section)
    s = record["summary"]
    return 0 if s["errors"] == 0 and s["finals_identical"] == s["finals_expected"] == s["finals_received"] else 1


if __name__ == "__main__":
    sys.exit(main())

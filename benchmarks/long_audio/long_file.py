"""`phonedge predict` on hours-long 48 kHz FLACs: peak memory and time, read in blocks against read whole.

Each file repeats a one-minute cycle of 20 s silence, 10 s of quiet noise and 30 s of FSDD speech
(upsampled to 48 kHz, stereo). Every run is a fresh process; its peak RSS comes from os.wait4.
"Whole" is the path predict took before block reading (decode, down-mix and resample the whole
file, then window it), run only up to --whole-max-minutes since it needs memory in proportion.
Usage: python -m benchmarks.long_audio.long_file [--minutes 10 60 360] [--cache DIR] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import sections
from benchmarks.common.environment import cpu_line, load_average
from benchmarks.common.long_flac import repeated_flac, speech_minute
from benchmarks.common.paths import BUNDLE, REPO

WHOLE = """
import sys, json, phonedge
rec = phonedge.load(sys.argv[1])
x = rec.prepare_audio(sys.argv[2])
p = rec.decoding.prediction(rec.logits(x), x, rec.decoding.decider())
print(json.dumps(p.to_dict(timestamps=False)))
"""
BLOCKS = "import sys; from phonedge.cli import main; sys.argv[0] = 'phonedge'; main()"


def measure(code: str, args: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS MiB and stdout of one fresh Python process running CODE with ARGS."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, env=env, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"{code[:40]!r} {args} exited with {status}")
    return seconds, usage.ru_maxrss / 1024, out


def run(minutes: list[int], cache: Path, bundle: Path, whole_max: int) -> list[dict]:
    """One row per file length: block reading always, the whole read up to WHOLE_MAX minutes."""
    rows = []
    cache.mkdir(parents=True, exist_ok=True)
    for m in minutes:
        path = repeated_flac(cache / f"cycle-{m}min-48k.flac", m, speech_minute)
        row = {"minutes": m, "flac_mib": path.stat().st_size / 2**20}
        s, rss, out = measure(BLOCKS, ["predict", "--json", "--model", str(bundle), str(path)])
        blocked = json.loads(out)
        row.update(blocks_s=s, blocks_mib=rss)
        if m <= whole_max:
            s, rss, out = measure(WHOLE, [str(bundle), str(path)])
            whole = json.loads(out)
            row.update(whole_s=s, whole_mib=rss, same=all(blocked[k] == whole[k] for k in whole))
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    return rows


def markdown(rows: list[dict]) -> str:
    """The long-file section of RESULTS.md."""
    lines = ["## Long files: `phonedge predict` in blocks (48 kHz stereo FLAC, reference int8)", "",
             "| Minutes | FLAC MiB | Blocks: peak RSS MiB | Blocks: s | s per audio hour | Whole read: peak RSS MiB"
             " | Whole read: s | Same prediction |",
             "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        whole = (f"{r['whole_mib']:.0f} | {r['whole_s']:.1f} | {'yes' if r['same'] else 'NO'}"
                 if "whole_s" in r else "not run | not run | -")
        lines.append(f"| {r['minutes']} | {r['flac_mib']:.1f} | {r['blocks_mib']:.0f} | {r['blocks_s']:.1f} | "
                     f"{r['blocks_s'] / r['minutes'] * 60:.0f} | {whole} |")
    lines += ["", "Each file repeats a minute of 20 s silence, 10 s quiet noise and 30 s FSDD speech; every run is "
              "a fresh process (peak RSS from wait4, the whole process including Python and ONNX Runtime). "
              "Whole read: the path `predict` took before block reading (phonedge/longform.py). "
              f"`python -m benchmarks.long_audio.long_file`; {cpu_line()}; load average {load_average()} at the end; "
              "the machine was shared with other work, so times are rough."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure, print the section, and (--write) put it into RESULTS.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=int, nargs="+", default=[10, 60, 360])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/phonedge-long-file"))
    ap.add_argument("--bundle", type=Path, default=BUNDLE)
    ap.add_argument("--whole-max-minutes", type=int, default=60)
    ap.add_argument("--write", action="store_true", help="put the section into benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    text = markdown(run(args.minutes, args.cache, args.bundle, args.whole_max_minutes))
    print(text)
    if args.write:
        sections.write("long-file", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Long-audio workload: peak memory of `Recognizer.predict` on 1 to 20 minutes, each in its own process.

Chunking bounds the model's working memory; what still grows with the length is the audio itself
(float32 at 16 kHz: 3.84 MB a minute) and the logits. The figures show both.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common.paths import REPO



def write_long_wav(path: Path, minutes: float, recordings: list[Path]) -> Path:
    """Real recordings (8 kHz) repeated in order, with 0.2 s gaps, up to MINUTES; written once."""
    import soundfile as sf

    if path.is_file():
        return path
    clips = [sf.read(str(p), dtype="int16")[0] for p in recordings]
    gap = np.zeros(1600, np.int16)
    need = int(minutes * 60 * 8000)
    pieces, total, i = [], 0, 0
    while total < need:
        pieces += [clips[i % len(clips)], gap]
        total += len(clips[i % len(clips)]) + len(gap)
        i += 1
    audio = np.concatenate(pieces)[:need]
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, 8000, subtype="PCM_16")
    return path


def run_long_audio(bundle: Path, cache: Path, recordings: list[Path], minutes: list[float],
                   threads: int) -> dict[str, Any]:
    """Peak RSS of one predict per length, each in a fresh process."""
    rows = []
    for m in minutes:
        wav = write_long_wav(cache / f"long-{m:g}min.wav", m, recordings)
        out = subprocess.run([sys.executable, "-m", "benchmarks.common.worker", "long-audio", str(bundle), str(wav),
                              str(threads)], cwd=REPO, capture_output=True, text=True, timeout=3600)
        if out.returncode != 0:
            rows.append({"minutes": m, "status": "failed", "error": out.stderr.strip()[-500:]})
            continue
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row.update(minutes=m, status="ok", audio_float32_bytes=int(m * 60 * 16000 * 4))
        rows.append(row)
        print(f"[bench] long audio {m:g} min: peak RSS {row['peak_rss_bytes'] / 2**20:.0f} MiB "
              f"in {row['seconds']:.1f} s", file=sys.stderr, flush=True)
    return {"status": "ok", "bundle": str(bundle), "rows": rows,
            "note": "phonedge default chunking (20 s windows, 4 s context each side); input 8 kHz WAV "
                    "of real FSDD recordings repeated"}

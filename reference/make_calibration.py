"""Writes reference/calibration/: what `make demo` calibrates the open-set threshold on.

In-set: every FSDD training-split recording (index 5-49) of the digits 0-3 (1,080); out-of-set: the
training-split recordings of index 5-9 of the digits 4-9 (180) and six non-speech signals (silence,
noise, a hum, a tone, a chord; written here). The FSDD rows point into ../shared/fsdd beside the
checkout, as the benchmarks do. Never the test split (index 0-4), on which the model card and the
goals are measured. Run once: ``python -m reference.make_calibration``.

All 1,080 in-set recordings, not a sample: the model was trained on them, so their scores sit high,
and a 1% rejection point needs many of them to reach into the tail (a 240-recording subset put it at
+0.03 nats and rejected 8 of the 120 test recordings; all 1,080 put it at -1.0 and rejected 2).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
OUT = HERE / "calibration"
RATE = 8000
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")


def non_speech(seconds: float = 1.0) -> dict[str, np.ndarray]:
    """Six signals that are none of the classes, at -26 dBFS or so (silence excepted)."""
    rng = np.random.default_rng(2026)
    t = np.arange(int(RATE * seconds)) / RATE
    brown = np.cumsum(rng.normal(size=t.size))
    signals = {
        "silence": np.zeros(t.size),
        "white_noise": rng.normal(0, 0.05, t.size),
        "brown_noise": 0.05 * (brown - brown.mean()) / brown.std(),
        "hum_50hz": 0.05 * np.sin(2 * np.pi * 50 * t) + 0.02 * np.sin(2 * np.pi * 150 * t),
        "tone_330hz": 0.05 * np.sin(2 * np.pi * 330 * t),
        "chord_a_minor": 0.03 * sum(np.sin(2 * np.pi * f * t) for f in (220.0, 261.6, 329.6)) * np.exp(-t),
    }
    return {name: x.astype(np.float32) for name, x in signals.items()}


def main(recordings: Path) -> None:
    """Write the non-speech signals and the manifest (FSDD rows as paths relative to it)."""
    lexicon = dict(line.split("\t")[0::2] for line in (recordings.parent / "lexicon.tsv").read_text().splitlines()[1:])
    OUT.mkdir(exist_ok=True)
    rows = ["path\ttranscript\tlabel"]
    for digit in range(10):
        indices = range(5, 50) if digit < 4 else range(5, 10)
        for speaker in SPEAKERS:
            for index in indices:
                name = f"{digit}_{speaker}_{index}.wav"
                if not (recordings / name).is_file():
                    raise SystemExit(f"missing FSDD recording {recordings / name}")
                rel = Path(os.path.relpath(recordings / name, OUT)).as_posix()
                rows.append(f"{rel}\t{lexicon[str(digit)]}\t{digit if digit < 4 else ''}")
    for name, x in non_speech().items():
        sf.write(OUT / f"{name}.wav", x, RATE, subtype="PCM_16")
        rows.append(f"{name}.wav\t\t")
    (OUT / "calibration.tsv").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    main(HERE.parent.parent / "shared" / "fsdd" / "recordings")

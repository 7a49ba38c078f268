"""The portability suite: what a platform's phonedge says about fixed inputs, written for comparison.

Runs with the runtime's dependencies only (numpy, onnxruntime, soundfile, soxr, click), so the same
script runs on the x86 host and, under emulation, on arm64 (benchmarks/platforms/portability.py compares them).
It records, per bundle mode, each eval recording's transcript, label and logits; the CLI's JSON lines
and exit codes (one good run, one run with a missing file, one with a missing bundle); and the answers
and decoded samples for each prepared audio file (WAV PCM16/24/float, FLAC, OGG Vorbis, ...).

Usage: python -m benchmarks.platforms.portability_suite --out DIR --eval-list reference/eval.tsv
           --bundle int8=DIR [--bundle MODE=DIR ...] [--cli-bundle int8] [--formats DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np

ANSWERS = "answers.json"
CLI_EVERY = 10  # the CLI runs on every 10th eval item (the library covers them all)
ARRAYS = "arrays.npz"
# /proc/cpuinfo feature flags that choose ONNX Runtime's kernels (ARM: dot product, i8mm, SVE, SME, fp16).
CPU_FLAGS = ("asimd", "asimddp", "i8mm", "bf16", "sve", "sve2", "sme", "fphp", "asimdhp",
             "avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def environment() -> dict[str, Any]:
    """Machine, interpreter, library versions and the CPU flags that select kernels."""
    import onnxruntime
    import soundfile
    import soxr

    import phonedge

    flags: set[str] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("flags", "Features"):
                flags = set(value.split())
                break
    return {"machine": platform.machine(), "python": platform.python_version(), "phonedge": phonedge.__version__,
            "onnxruntime": onnxruntime.__version__, "numpy": np.__version__,
            "libsndfile": soundfile.__libsndfile_version__, "soxr": soxr.__version__,
            "cpu_flags": sorted(f for f in CPU_FLAGS if f in flags)}


def read_manifest(path: Path) -> list[tuple[str, Path]]:
    """(name as written, resolved path) of each row of an eval list (TSV with a ``path`` column)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    column = lines[0].split("\t").index("path")
    rows = [line.split("\t")[column] for line in lines[1:] if line.strip()]
    return [(name, (path.parent / name).resolve()) for name in rows]


def run_modes(bundles: dict[str, Path], items: list[tuple[str, Path]], arrays: dict[str, np.ndarray],
              ) -> dict[str, Any]:
    """Each bundle's transcript and label for every item; logits into ARRAYS as ``logits/MODE/NAME``."""
    import phonedge
    from phonedge.errors import PhonedgeError

    modes: dict[str, Any] = {}
    for mode, bundle in bundles.items():
        rec = phonedge.load(str(bundle), threads=1)
        answers: dict[str, Any] = {}
        for name, path in items:
            try:
                pred = rec.predict(str(path), return_logits=True)
            except PhonedgeError as exc:
                answers[name] = {"error": f"{type(exc).__name__}: {exc}"}
                continue
            answers[name] = {"text": pred.text, "label": pred.label}
            arrays[f"logits/{mode}/{name}"] = np.asarray(pred.logits, dtype=np.float32)
        modes[mode] = answers
        print(f"[suite] {mode}: {len(answers)} items", file=sys.stderr, flush=True)
    return modes


def _invoke(args: list[str]) -> dict[str, Any]:
    from click.testing import CliRunner

    from phonedge.cli import main

    result = CliRunner().invoke(main, args)
    return {"exit_code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr,
            "exception": None if result.exception is None or isinstance(result.exception, SystemExit)
            else f"{type(result.exception).__name__}: {result.exception}"}


def run_cli(bundle: Path, manifest: Path, items: list[tuple[str, Path]], work: Path) -> dict[str, Any]:
    """``phonedge predict --json`` and ``eval`` on every CLI_EVERY-th item; the two error paths of predict."""
    items = items[::CLI_EVERY]
    lines = manifest.read_text(encoding="utf-8").splitlines()
    column = lines[0].split("\t").index("path")
    rows = [line.split("\t") for line in lines[1:] if line.strip()][::CLI_EVERY]
    for row, (_, path) in zip(rows, items):
        row[column] = str(path)
    subset = work / "cli-eval.tsv"
    subset.write_text("\n".join([lines[0]] + ["\t".join(r) for r in rows]) + "\n", encoding="utf-8")
    manifest, missing_dir = subset, work
    good = _invoke(["predict", "--model", str(bundle), "--json", "--threads", "1", *(str(p) for _, p in items)])
    by_path = {str(p): name for name, p in items}
    records = {}
    for line in good["stdout"].splitlines():
        record = json.loads(line)
        records[by_path.get(record.get("path"), record.get("path"))] = {"text": record.get("text"),
                                                                        "label": record.get("label")}
    missing_file = _invoke(["predict", "--model", str(bundle), str(items[0][1]), str(missing_dir / "absent.wav")])
    missing_bundle = _invoke(["predict", "--model", str(missing_dir / "no-bundle"), str(items[0][1])])
    scored = _invoke(["eval", str(bundle), "--eval-list", str(manifest), "--format", "json", "--threads", "1"])
    return {
        "predict": {"exit_code": good["exit_code"], "exception": good["exception"], "records": records},
        "missing_file": {key: missing_file[key] for key in ("exit_code", "stderr", "exception")}
        | {"lines_out": len(missing_file["stdout"].splitlines())},
        "missing_bundle": {key: missing_bundle[key] for key in ("exit_code", "stderr", "exception")},
        "eval": {"exit_code": scored["exit_code"], "exception": scored["exception"],
                 "report": json.loads(scored["stdout"]) if scored["exit_code"] == 0 else None},
    }


def run_formats(bundle: Path, folder: Path, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Answers for every audio file in FOLDER; its decoded 16 kHz samples into ARRAYS as ``audio/NAME``."""
    import phonedge
    from phonedge.errors import PhonedgeError

    rec = phonedge.load(str(bundle), threads=1)
    answers: dict[str, Any] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            samples = rec.load(str(path))
            pred = rec.predict(str(path))
        except PhonedgeError as exc:
            answers[path.name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        arrays[f"audio/{path.name}"] = samples
        answers[path.name] = {"text": pred.text, "label": pred.label, "samples": int(samples.shape[0])}
    return answers


def run_suite(out: Path, manifest: Path, bundles: dict[str, Path], cli_bundle: Optional[str],
              formats: Optional[Path]) -> dict[str, Any]:
    """Run everything and write OUT/answers.json and OUT/arrays.npz; return the answers."""
    out.mkdir(parents=True, exist_ok=True)
    items = read_manifest(manifest)
    arrays: dict[str, np.ndarray] = {}
    answers: dict[str, Any] = {"environment": environment(), "modes": run_modes(bundles, items, arrays)}
    if cli_bundle:
        answers["cli"] = run_cli(bundles[cli_bundle], manifest, items, out)
    if formats:
        answers["formats"] = run_formats(bundles[cli_bundle or next(iter(bundles))], formats, arrays)
    np.savez_compressed(out / ARRAYS, **arrays)
    (out / ANSWERS).write_text(json.dumps(answers, indent=1, sort_keys=True), encoding="utf-8")
    return answers


def main(argv: Optional[list[str]] = None) -> int:
    """Parse the arguments and run the suite."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--eval-list", dest="manifest", type=Path, required=True)
    parser.add_argument("--bundle", action="append", default=[], metavar="MODE=DIR", required=True)
    parser.add_argument("--cli-bundle", help="mode whose bundle the CLI and audio-format checks use")
    parser.add_argument("--formats", type=Path, help="folder of audio files in various formats")
    args = parser.parse_args(argv)
    bundles = {}
    for spec in args.bundle:
        mode, sep, folder = spec.partition("=")
        if not sep:
            parser.error(f"--bundle takes MODE=DIR, not {spec!r}")
        bundles[mode] = Path(folder)
    if args.cli_bundle and args.cli_bundle not in bundles:
        parser.error(f"--cli-bundle {args.cli_bundle!r} is none of the --bundle modes")
    os.environ.pop("PHONEDGE_MODEL", None)
    run_suite(args.out, args.manifest, bundles, args.cli_bundle, args.formats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

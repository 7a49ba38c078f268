"""``make test-arm64``: do bundles exported on x86 give the same answers on arm64 CPUs?

Exports the reference model once per bundle mode on the host (cached by the model, the exporter's
sources and the mode), writes a few recordings in several audio formats, runs
benchmarks/platforms/portability_suite.py on the host and, under QEMU, on several emulated ARM CPU models
(Armv8.0 NEON only, dot product, SVE + i8mm, SVE2 + SME: the kernels ONNX Runtime picks differ), compares
every answer with the host's, and writes benchmarks/results/portability.json and the Portability section
of benchmarks/RESULTS.md. Exits 1 when any answer differs.

Usage: python -m benchmarks.platforms.portability [--cpus cortex-a72 neoverse-n1 ...] [--modes fp32 int8 ...]
           [--qemu 10.0] [--onnxruntime VERSION] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from benchmarks.platforms import arm64_env, portability_compare
from benchmarks.common import sections
from benchmarks.platforms.portability_suite import ANSWERS, ARRAYS

ROOT = arm64_env.ROOT
MODEL = ROOT / "reference" / "model"
LABELS = ROOT / "reference" / "labels.tsv"
MANIFEST = ROOT / "reference" / "eval.tsv"
RESULTS_JSON = ROOT / "benchmarks" / "results" / "portability.json"
RESULTS_MD = ROOT / "benchmarks" / "RESULTS.md"
# Emulated CPU models (CPU[:mode,mode]; no modes: every mode), one per int8 kernel family ONNX Runtime
# chooses between on arm64: the dot product (Neoverse N1 = Cortex-A76 of a Raspberry Pi 5; every mode),
# plain Armv8.0 NEON (Cortex-A72, Raspberry Pi 4) and QEMU's "max" (SVE2, SME, i8mm: Armv9 cores).
# Emulation costs ~1-10 s per recording and mode, so the other two run the int8 bundle only.
DEFAULT_CPUS = ("neoverse-n1", "cortex-a72:int8", "max:int8")
CLI_MODE = "int8"  # the bundle the CLI and audio-format checks use (`make demo`'s)
CALIBRATION_FILES = 8  # the exporter's parity gate runs on this many reference recordings (2 per class)
FORMAT_SOURCES = 4  # recordings (one per class) written in every audio format
# Audio formats: name -> (soundfile format, subtype, sample rate or None for the source's, channels).
AUDIO_FORMATS = {
    "pcm16.wav": ("WAV", "PCM_16", None, 1),
    "pcm24.wav": ("WAV", "PCM_24", None, 1),
    "float.wav": ("WAV", "FLOAT", None, 1),
    "pcm16.flac": ("FLAC", "PCM_16", None, 1),
    "vorbis.ogg": ("OGG", "VORBIS", None, 1),
    "stereo-44k1.wav": ("WAV", "PCM_16", 44_100, 2),
}


NOTES = (
    "Transcripts, labels, CLI records and exit codes must be identical, and `phonedge eval`'s metrics equal to "
    "1e-9 relative (numpy may sum in another order on an SVE CPU). Logits are measured, not judged: ONNX "
    "Runtime's arm64 kernels (NEON or SVE float; plain NEON, dot-product, i8mm or SME int8) sum in another "
    "order than x86's, so float logits differ in the last digits, and an int8 activation quantized per call "
    "can land on a neighbouring step when the float work before it differs slightly, so int8 logits differ by "
    "up to the size of int8's own error (compare the int8 parity figure in the bundle's phonedge.json).",
    "These runs use QEMU 10.0 from bookworm-backports. Bookworm's QEMU 7.2 shows the guest the host's x86 "
    "/proc/cpuinfo, on which onnxruntime >= 1.28 crashes at import, and its SME emulation gives wrong answers "
    "with onnxruntime >= 1.27 (docs/platforms.md; results/arm64_onnxruntime*.json).",
)


def render(report: dict[str, Any]) -> None:
    """Write portability.json and the Portability section of RESULTS.md from REPORT."""
    RESULTS_JSON.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    sections.write("portability", "\n".join(portability_compare.markdown(report)), RESULTS_MD)
    _log(f"wrote {RESULTS_JSON.relative_to(ROOT)} and the Portability section of {RESULTS_MD.relative_to(ROOT)}")


def _log(message: str) -> None:
    print(f"[portability] {message}", file=sys.stderr, flush=True)


def bundle_modes() -> dict[str, list[str]]:
    """Every quantization mode the exporter has (fp32 for 'none'), with its export options."""
    from phonedge_export import QUANTIZE_MODES

    return {("fp32" if mode == "none" else mode): ["--quantize", mode] for mode in QUANTIZE_MODES}


def _digest(paths: Sequence[Path], extra: str) -> str:
    h = hashlib.sha256(extra.encode())
    for path in paths:
        for f in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _calibration(cache: Path, items: list[tuple[str, Path, str]]) -> Path:
    """A folder of links to CALIBRATION_FILES reference recordings, two per class."""
    folder = cache / "calibration"
    folder.mkdir(parents=True, exist_ok=True)
    chosen: dict[str, list[Path]] = {}
    for _, path, label in items:
        if len(chosen.setdefault(label, [])) < CALIBRATION_FILES // 4:
            chosen[label].append(path)
    for path in (p for paths in chosen.values() for p in paths):
        link = folder / path.name
        if not link.exists():
            link.symlink_to(path)
    return folder


def export_bundles(cache: Path, modes: dict[str, list[str]], calibration: Path) -> dict[str, Path]:
    """The reference model exported in each mode on the host, reused while model, code and options match."""
    bundles = {}
    for mode, options in modes.items():
        key = _digest([MODEL / "model.safetensors", LABELS, ROOT / "export", ROOT / "phonedge"], " ".join(options))
        out = cache / "bundles" / f"{mode}-{key}"
        if not (out / "phonedge.json").is_file():
            _log(f"exporting the reference model: {mode} ({' '.join(options)})")
            subprocess.run([sys.executable, "-c", "from phonedge.cli import main; main()", "export", str(MODEL),
                            "-o", str(out), *options, "--labels", str(LABELS), "--calibration-audio",
                            str(calibration), "--overwrite"], check=True)
        bundles[mode] = out
    return bundles


def write_formats(folder: Path, items: list[tuple[str, Path, str]]) -> Path:
    """FORMAT_SOURCES recordings (one per class) written in each of AUDIO_FORMATS, once."""
    import soundfile as sf
    import soxr

    folder.mkdir(parents=True, exist_ok=True)
    sources: dict[str, Path] = {}
    for _, path, label in items:
        sources.setdefault(label, path)
    for path in list(sources.values())[:FORMAT_SOURCES]:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        mono = data.mean(axis=1)
        for suffix, (fmt, subtype, new_rate, channels) in AUDIO_FORMATS.items():
            target = folder / f"{path.stem}.{suffix}"
            if target.is_file():
                continue
            out = soxr.resample(mono, rate, new_rate, quality="VHQ") if new_rate else mono
            frames = np.repeat(out[:, None], channels, axis=1) if channels > 1 else out
            sf.write(str(target), frames, new_rate or rate, format=fmt, subtype=subtype)
    return folder


def read_items(manifest: Path) -> list[tuple[str, Path, str]]:
    """(name as written, resolved path, true label) of each row of the eval list."""
    lines = manifest.read_text(encoding="utf-8").splitlines()
    head = lines[0].split("\t")
    rows = [line.split("\t") for line in lines[1:] if line.strip()]
    return [(r[head.index("path")], (manifest.parent / r[head.index("path")]).resolve(), r[head.index("label")])
            for r in rows]


def parse_cpu(spec: str, modes: Sequence[str]) -> tuple[str, list[str]]:
    """``CPU`` or ``CPU:mode,mode`` -> (CPU, its modes among MODES, in their order)."""
    cpu, _, wanted = spec.partition(":")
    chosen = [m for m in modes if m in wanted.split(",")] if wanted else list(modes)
    unknown = sorted(set(wanted.split(",")) - set(modes)) if wanted else []
    if not cpu or unknown or CLI_MODE not in chosen:
        raise ValueError(f"bad CPU spec {spec!r}: use CPU or CPU:mode,... with modes among {', '.join(modes)}, "
                         f"including {CLI_MODE} (the CLI and audio-format checks use it)")
    return cpu, chosen


def subset_manifest(folder: Path, every: int) -> Path:
    """The eval list itself, or (EVERY > 1) every EVERY-th row of it with absolute paths, in FOLDER."""
    if every <= 1:
        return MANIFEST
    lines = MANIFEST.read_text(encoding="utf-8").splitlines()
    column = lines[0].split("\t").index("path")
    rows = [line.split("\t") for line in lines[1:] if line.strip()][::every]
    for row in rows:
        row[column] = str((MANIFEST.parent / row[column]).resolve())
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"eval-every-{every}.tsv"
    out.write_text("\n".join([lines[0]] + ["\t".join(r) for r in rows]) + "\n", encoding="utf-8")
    return out


def _suite_args(out: Path, manifest: Path, bundles: dict[str, Path], formats: Path) -> list[str]:
    return ["-m", "benchmarks.platforms.portability_suite", "--out", str(out), "--eval-list", str(manifest),
            *[f"--bundle={mode}={path}" for mode, path in bundles.items()], "--cli-bundle", CLI_MODE,
            "--formats", str(formats)]


def _load(out: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    answers = json.loads((out / ANSWERS).read_text(encoding="utf-8"))
    with np.load(out / ARRAYS) as arrays:
        return answers, {k: arrays[k] for k in arrays.files}


def run_host(out: Path, manifest: Path, bundles: dict[str, Path], formats: Path) -> None:
    """The suite on this machine, with the project's own Python."""
    _log("suite on the host (x86)")
    subprocess.run([sys.executable, *_suite_args(out, manifest, bundles, formats)], cwd=ROOT, check=True)


def run_emulated(env: arm64_env.Arm64Environment, cpu: str, out: Path, manifest: Path, bundles: dict[str, Path],
                 formats: Path, timeout: float = 3600) -> Optional[str]:
    """The suite under QEMU on CPU (its progress on stderr); None on success, else what went wrong."""
    _log(f"suite under emulation: -cpu {cpu}")
    try:
        proc = subprocess.run([*env.python(cpu), *_suite_args(out, manifest, bundles, formats)], cwd=ROOT,
                              env=env.env([ROOT]),
                              stdout=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f} s"
    if proc.returncode != 0:
        signal = " (SIGSEGV)" if proc.returncode in (-11, 139) else ""
        return f"exit code {proc.returncode}{signal}: {proc.stdout[-2000:]}"
    return None


def host_description(answers: dict[str, Any]) -> dict[str, Any]:
    """The host's machine, CPU model and onnxruntime, for the report."""
    from benchmarks.common.environment import cpu_info

    return {"machine": answers["environment"]["machine"], "cpu": cpu_info()["model"],
            "onnxruntime": answers["environment"]["onnxruntime"], "environment": answers["environment"]}


def main(argv: Optional[list[str]] = None) -> int:
    """Build, run, compare, write; exit 1 when any emulated CPU answers differently."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpus", nargs="+", default=list(DEFAULT_CPUS),
                        help="QEMU CPU models to emulate, each CPU or CPU:mode,mode (default: %(default)s)")
    parser.add_argument("--modes", nargs="+", help="bundle modes (default: every mode the exporter has)")
    parser.add_argument("--qemu", choices=sorted(arm64_env.QEMU_BUILDS), default=arm64_env.DEFAULT_QEMU)
    parser.add_argument("--onnxruntime", help="aarch64 onnxruntime version (default: constraints.txt's)")
    parser.add_argument("--cache", type=Path, default=arm64_env.DEFAULT_CACHE)
    parser.add_argument("--every", type=int, default=1, metavar="N",
                        help="use every N-th eval recording (a quick check; results are then not written)")
    parser.add_argument("--no-write", action="store_true", help="do not update the committed results")
    parser.add_argument("--render", action="store_true", help="only rewrite RESULTS.md's section from the JSON")
    args = parser.parse_args(argv)
    if args.render:
        report = json.loads(RESULTS_JSON.read_text(encoding="utf-8"))
        render({**report, "notes": list(NOTES)})
        return 0 if report["identical"] else 1

    started = time.perf_counter()
    modes = bundle_modes()
    if args.modes:
        unknown = sorted(set(args.modes) - set(modes))
        if unknown:
            parser.error(f"unknown mode(s) {', '.join(unknown)}; the exporter has {', '.join(modes)}")
        modes = {m: modes[m] for m in args.modes}
    try:
        cpus = [parse_cpu(spec, list(modes)) for spec in args.cpus]
    except ValueError as exc:
        parser.error(str(exc))
    try:
        env = arm64_env.build(args.cache, args.qemu, args.onnxruntime)
    except arm64_env.EnvironmentBuildError as exc:
        print(f"error: building the arm64 environment: {exc}", file=sys.stderr)
        return 1
    built = time.perf_counter()
    items = read_items(MANIFEST)
    bundles = export_bundles(args.cache, modes, _calibration(args.cache, items))
    formats = write_formats(args.cache / "formats", items)
    runs_dir = args.cache / "runs"
    manifest = subset_manifest(runs_dir, args.every)
    run_host(runs_dir / "host", manifest, bundles, formats)
    host, host_arrays = _load(runs_dir / "host")
    truth = {str(path) if args.every > 1 else name: label for name, path, label in items}
    truth = {name: truth[name] for name in host["modes"][CLI_MODE]}
    runs, failures = [], []
    for cpu, cpu_modes in cpus:
        out = runs_dir / cpu
        t0 = time.perf_counter()
        problem = run_emulated(env, cpu, out, manifest, {m: bundles[m] for m in cpu_modes}, formats)
        if problem:
            failures.append(f"{cpu}: {problem}")
            _log(f"{cpu}: FAILED: {problem}")
            continue
        other, other_arrays = _load(out)
        run = {"cpu": cpu, **portability_compare.compare_run(host, other, host_arrays, other_arrays, truth,
                                                             CLI_MODE, cpu_modes),
               "emulated_s": round(time.perf_counter() - t0)}
        runs.append(run)
        _log(f"{cpu}: {'identical' if run['identical'] else 'DIFFERENT'} ("
             + ", ".join(f"{m} {r['same_text']}/{r['items']} transcripts, {r['same_label']}/{r['items']} labels"
                         for m, r in run["modes"].items()) + f"; {run['emulated_s']} s emulated)")
    report = {
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "host": host_description(host),
        "emulator": env.describe(),
        "modes": {m: " ".join(o) for m, o in modes.items()},
        "runs": runs,
        "failures": failures,
        "identical": not failures and bool(runs) and all(r["identical"] for r in runs),
        "recordings": len(truth),
        "notes": list(NOTES),
        "timing_s": {"environment": round(built - started), "total": round(time.perf_counter() - started)},
    }
    if not args.no_write and args.every == 1:
        render(report)
    _log(f"{'identical answers' if report['identical'] else 'ANSWERS DIFFER'} on "
         f"{len(runs)}/{len(args.cpus)} emulated CPUs; {report['timing_s']['total']} s in all "
         f"({report['timing_s']['environment']} s building the environment)")
    return 0 if report["identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

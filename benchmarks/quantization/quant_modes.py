"""Quantization modes side by side: int8, int8 on an outlier twin, int4 (and int4 on the twin).

For one model (the trained reference model by default, or the random-weight xlsr-53-size one with
--xlsr53) this builds an outlier twin (benchmarks/quantization/outlier_twin.py: planted outlier channels, the
same float function), exports every mode with the exporter's defaults (the parity gate on), plus
the twin with smoothing and mixed precision off and the gate off ("naive", to show what the
defaults fix), then measures per mode: bundle size (and its share of the fp32 bundle), load time,
resident memory, latency at 1/3/10 s (each bundle in its own process, interleaved rounds, best
round per length), the distance to benchmarks/speed/floor.py's bound, and on the reference model the
FSDD test split's accuracy and the share of transcripts identical to PyTorch fp32.

Smoothing and the parity gate use calibration audio from FSDD's train split (digits 0-3, takes
5-9: 120 recordings, none of the test split), copied from /work/shared/fsdd when it is there;
otherwise the committed test-split audio stands in (recorded in the results). The xlsr-53-size
model has random weights: its parity runs on the exporter's generated signals, and its figures
are size, memory and speed only (exported with the gate off, its figures recorded). --sweep exports twins
of the reference model at every place and magnitude 10-300x with the defaults and measures each on the
test split.

Usage: python -m benchmarks.quantization.quant_modes [--xlsr53] [--sweep] [--threads 2] [--rounds 2] [--magnitude 100]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any, Optional

from benchmarks.common import sections
from benchmarks.common.prepare import exporter_version, log
from benchmarks.common.workloads import SpeedPlan, speech_signal
from benchmarks.common.paths import FSDD as FSDD_ROOT, REPO

REFERENCE_DIR = REPO / "reference"
FSDD = FSDD_ROOT / "recordings"
CALIBRATION_DIGITS, CALIBRATION_TAKES = (0, 1, 2, 3), range(5, 10)
SWEEP_PLACES = ("projection", "attention", "feed_forward", "head", "projection,attention,feed_forward,head")
SWEEP_MAGNITUDES = (10.0, 30.0, 100.0, 300.0)
PLAN = SpeedPlan((1.0, 3.0, 10.0), warmup=1, repeats={1.0: 5, 3.0: 5, 10.0: 3})
# mode -> (model: "plain" or "twin", --quantize, export options, parity gate)
MODES: dict[str, tuple[str, str, dict[str, Any], bool]] = {
    "fp32": ("plain", "none", {}, True),
    "int8": ("plain", "int8", {}, True),
    "int8-twin-naive": ("twin", "int8", {"smoothing": False, "mixed_precision": False}, False),
    "int8-twin": ("twin", "int8", {}, True),
    "int4": ("plain", "int4", {}, True),
    "int4-twin": ("twin", "int4", {}, True),
}


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--xlsr53", action="store_true", help="the random-weight xlsr-53-size model (heavy)")
    parser.add_argument("--model", type=Path, default=REFERENCE_DIR / "model",
                        help="trained model (default: reference)")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--places", default="projection,attention,feed_forward,head")
    parser.add_argument("--magnitude", type=float, default=100.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--sweep", action="store_true", help="every twin place x magnitude, int8 and int4, accuracy "
                                                             "only")
    parser.add_argument("--fsdd", type=Path, default=FSDD, help="FSDD recordings (the calibration audio's source)")
    parser.add_argument("--tag", default="", help="suffix of the result files' names (quant_modes-MODEL[-TAG].*)")
    parser.add_argument("--cache", type=Path, default=REPO / "benchmarks" / ".cache")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    return parser.parse_args(argv)


def calibration_folder(fsdd: Path, cache: Path) -> tuple[Path, str]:
    """FSDD train-split recordings for calibration (copied once into CACHE), else the committed test audio."""
    files = sorted(p for p in fsdd.glob("*.wav") if int(p.stem.split("_")[0]) in CALIBRATION_DIGITS
                   and int(p.stem.split("_")[2]) in CALIBRATION_TAKES) if fsdd.is_dir() else []
    if not files:
        return REFERENCE_DIR / "audio", "reference/audio (the test split itself: no FSDD train audio found)"
    folder = cache / "calibration-fsdd-train"
    if sorted(p.name for p in folder.glob("*.wav")) != [p.name for p in files]:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for path in files:
            shutil.copyfile(path, folder / path.name)
    return folder, f"{len(files)} FSDD train-split recordings (digits 0-3, takes 5-9)"


def ensure_twin(model: Path, cache: Path, places: list[str], magnitude: float) -> Path:
    """The outlier twin of MODEL under CACHE, rebuilt when the source or the planting changed."""
    from benchmarks.quantization.outlier_twin import STAMP, write_twin
    from benchmarks.common.prepare import _source_fingerprint

    target = cache / f"twin-{'+'.join(places)}-{magnitude:g}"
    source = _source_fingerprint(model)
    stamp_file = cache / (target.name + ".source.json")
    if (target / STAMP).is_file() and stamp_file.is_file() and json.loads(stamp_file.read_text()) == source:
        log(f"reusing {target}")
        return target
    log(f"planting outliers ({magnitude:g}x at {', '.join(places)}) into a twin of {model}")
    shutil.rmtree(target, ignore_errors=True)
    write_twin(model, target, places, magnitude)
    stamp_file.write_text(json.dumps(source), encoding="utf-8")
    return target


def export_mode(key: str, source: Path, quantize: str, options: dict[str, Any], gate: bool, cache: Path,
                calibration: Optional[Path]) -> dict[str, Any]:
    """Export SOURCE as the bundle KEY (cached by exporter version, source and options): its path, or the refusal."""
    from benchmarks.common.prepare import _source_fingerprint
    from phonedge_export import export_bundle

    from phonedge.errors import ExportError

    target = cache / f"bundle-{key}"
    stamp = {"exporter": exporter_version(), "source": _source_fingerprint(source), "quantize": quantize,
             "options": options, "gate": gate, "calibration": str(calibration)}
    stamp_file = cache / f"bundle-{key}.stamp.json"
    if target.is_dir() and stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp:
        log(f"reusing {target}")
        return {"bundle": target, "export_s": None}
    log(f"exporting {key} ({source.name}, --quantize {quantize}, {options or 'defaults'}, gate {gate})")
    start = time.perf_counter()
    try:
        export_bundle(source, target, quantize=quantize, calibration_audio=calibration, overwrite=True, gate=gate,
                      progress=lambda m: log(f"  {key}: {m}"), **options)
    except ExportError as exc:
        log(f"  {key}: export refused: {exc}")
        return {"error": str(exc)}
    stamp_file.write_text(json.dumps(stamp), encoding="utf-8")
    return {"bundle": target, "export_s": time.perf_counter() - start}


def bundle_facts(bundle: Path) -> dict[str, Any]:
    """Size and what the export recorded: parity, smoothing, float MatMuls, 4-bit storage."""
    from phonedge.manifest import read_manifest

    manifest = read_manifest(bundle)
    q = manifest.graph.quantization
    outliers = q.get("outliers") or {}
    smoothing = outliers.get("smoothing") or {}
    return {
        "size_bytes": manifest.graph.size_bytes,
        "parity": {k: manifest.parity.get(k) for k in ("passed", "frame_argmax_agreement", "transcript_agreement",
                                                       "n_inputs", "inputs")},
        "migrated_sites": smoothing.get("migrated_sites"),
        "float_matmuls": len(outliers.get("float_matmuls") or []),
        "attempts": len(outliers.get("attempts") or []),
        "weight_storage": q.get("weight_storage", q.get("weight_type")),
    }


def describe_exports(exports: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per bundle key: export time and the manifest's facts, or the exporter's refusal."""
    modes: dict[str, dict[str, Any]] = {}
    for key, export in exports.items():
        entry: dict[str, Any] = {"export_s": export.get("export_s")}
        if "error" in export:
            entry["export_error"] = export["error"]
        else:
            entry.update(bundle_facts(export["bundle"]))
        modes[key] = entry
    fp32 = modes.get("fp32", {}).get("size_bytes")
    for entry in modes.values():
        if fp32 and entry.get("size_bytes"):
            entry["size_share_of_fp32"] = entry["size_bytes"] / fp32
    return modes


def measure_speed(args: argparse.Namespace, model: Path, bundles: dict[str, Path], modes: dict[str, Any]) -> dict:
    """Latency, load time and memory of every non-fp32 bundle (own processes, interleaved rounds), and the floor."""
    from benchmarks.common.backends import ModelSet
    from benchmarks.speed.floor import compute_floor
    from benchmarks.speed.speed import run_speed

    timed = [m for m in bundles if m != "fp32"]
    signal = speech_signal(max(PLAN.lengths_s), sorted((REFERENCE_DIR / "audio").glob("*.wav")))
    speed = run_speed(ModelSet(hf_dir=model, bundles=bundles), [f"phonedge-{m}" for m in timed], args.threads, PLAN,
                      signal, f"phonedge-{timed[0]}", 1800, rounds=args.rounds)
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    log("compute floor")
    floor = compute_floor(config, PLAN.lengths_s, args.threads)
    bound = {key: v["phonedge_split_s"] for key, v in floor["lengths"].items()}
    for mode in timed:
        run, entry = speed["backends"][f"phonedge-{mode}"], modes[mode]
        if run.get("status") != "ok":
            entry["speed_error"] = run.get("error")
            continue
        entry.update(load_s=run["load_s"], rss_after_load_mb=run["rss_after_load_mb"], rss_peak_mb=run["rss_peak_mb"])
        entry["latency"] = {key: {"median_s": f["median_s"], "round_medians_s": f.get("round_medians_s"),
                                  "peak_rss_mb": f["peak_rss_mb"], "x_floor": f["median_s"] / bound[key]}
                            for key, f in run["latency"].items()}
    base = modes.get("int8", {}).get("latency")
    for entry in modes.values():
        for key, f in (entry.get("latency") or {}).items():
            if base:
                f["x_int8"] = f["median_s"] / base[key]["median_s"]
    return {"floor_s": bound, "gemm_macs_per_s": floor["gemm"]["best_macs_per_s"]}


def measure_accuracy(args: argparse.Namespace, model: Path, bundles: dict[str, Path], modes: dict[str, Any]) -> int:
    """FSDD test-split accuracy of PyTorch fp32 and every bundle, and each bundle's identical-transcript share."""
    from benchmarks.accuracy.accuracy import run_accuracy
    from benchmarks.common.backends import ModelSet
    from phonedge.evaluate import read_eval_list

    items = read_eval_list(REFERENCE_DIR / "eval.tsv")
    names = ["pytorch-fp32"] + [f"phonedge-{m}" for m in bundles]
    accuracy = run_accuracy(ModelSet(hf_dir=model, bundles=bundles), names, args.threads, items,
                            REFERENCE_DIR / "labels.tsv")
    for key in ["pytorch-fp32", *bundles]:
        run = accuracy["backends"].get(key if key == "pytorch-fp32" else f"phonedge-{key}", {})
        if run.get("status") != "ok":
            continue
        entry = modes.setdefault(key, {})
        entry["accuracy"] = run["report"]["Accuracy"]
        vs = run.get("vs_pytorch_fp32", {})
        entry["identical_transcripts"] = vs.get("transcript_agreement")
        entry["same_class"] = vs.get("label_agreement")
    return len(items)


def main(argv: Optional[list[str]] = None) -> int:
    """Build, export and measure every mode (or the sweep); write JSON and a markdown table under --out."""
    args = parse_args(argv)
    from benchmarks.common.environment import describe

    if args.xlsr53:
        from benchmarks.common.xlsr53 import ensure_xlsr53

        model, name = ensure_xlsr53(args.cache, processor_from=REFERENCE_DIR / "model"), "xlsr53"
        calibration, calibration_note = None, "the exporter's generated signals (random weights)"
    else:
        model, name = args.model, "reference"
        calibration, calibration_note = calibration_folder(args.fsdd, args.cache)
    cache = args.cache / f"quant-{name}"
    cache.mkdir(parents=True, exist_ok=True)
    exports: dict[str, dict[str, Any]] = {}
    if args.sweep:
        name += "-sweep"
        for quantize in ("int8", "int4"):
            exports[quantize] = export_mode(quantize, model, quantize, {}, True, cache, calibration)
        for places in SWEEP_PLACES:
            for magnitude in SWEEP_MAGNITUDES:
                twin = ensure_twin(model, cache, places.split(","), magnitude)
                label = "all" if places.count(",") else places
                for quantize in ("int8", "int4") if magnitude == max(SWEEP_MAGNITUDES) else ("int8",):
                    key = f"{quantize}-{label}-{magnitude:g}x"
                    exports[key] = export_mode(key, twin, quantize, {}, True, cache, calibration)
        twin_note: dict[str, Any] = {"places": list(SWEEP_PLACES), "magnitudes": list(SWEEP_MAGNITUDES)}
    else:
        places = args.places.split(",")
        twin = ensure_twin(model, cache, places, args.magnitude)
        for mode in args.modes:
            kind, quantize, options, gate = MODES[mode]
            # Random weights make near-tied logits: agreement means nothing there, so the xlsr-53-size
            # bundles are exported with the gate off (figures recorded), as benchmarks/run.py does.
            exports[mode] = export_mode(mode, twin if kind == "twin" else model, quantize, options,
                                        gate and not args.xlsr53, cache, calibration)
        twin_note = {"places": places, "magnitude": args.magnitude}
    twin_note["note"] = ("outliers planted into the checkpoint by benchmarks/quantization/outlier_twin.py; "
                         "same float function")
    bundles = {key: e["bundle"] for key, e in exports.items() if "bundle" in e}
    results: dict[str, Any] = {"environment": describe(REPO), "model": name, "checkpoint": str(model),
                               "twin": twin_note, "calibration": calibration_note,
                               "modes": describe_exports(exports)}
    if not args.skip_speed and not args.sweep and len(bundles) > ("fp32" in bundles):
        results.update(measure_speed(args, model, bundles, results["modes"]))
    if not args.xlsr53:
        results["eval_items"] = measure_accuracy(args, model, bundles, results["modes"])
    name += f"-{args.tag}" if args.tag else ""
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / f"quant_modes-{name}.json"
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    md = markdown(results)
    (args.out / f"quant_modes-{name}.md").write_text(md, encoding="utf-8")
    sections.write("quantization-modes", results_section(args.out))
    print(md)
    log(f"wrote {json_path}")
    return 0


def results_section(folder: Path) -> str:
    """The "Quantization modes" section of RESULTS.md: every quant_modes-*.md table in FOLDER."""
    tables = sorted(folder.glob("quant_modes-*.md"))
    if not tables:
        return ""
    lines = ["## Quantization modes", "",
             "Written by `python -m benchmarks.quantization.quant_modes` (`--xlsr53`, `--sweep`) into "
             "benchmarks/results/quant_modes-*.md/json, and gathered here. Modes: README.md, "
             "Quantization modes.", ""]
    for path in tables:
        lines += [f"### {path.stem[len('quant_modes-'):]}", "", path.read_text(encoding="utf-8").strip(), ""]
    return "\n".join(lines)




def markdown(results: dict[str, Any]) -> str:
    """The per-mode table of one run (speed columns only where speed was measured)."""
    cpu = results["environment"].get("cpu", {})
    timed = any(e.get("latency") for e in results["modes"].values())
    lines = [
        f"Model: {results['model']} ({results['checkpoint']}); twin: {results['twin']}; "
        f"calibration and parity inputs: {results['calibration']}; CPU: {cpu.get('model')}, "
        f"{results['environment'].get('date')}.",
        "",
    ]
    head = ["mode", "size MB", "% fp32", "gate", "smoothed LNs / float MatMuls"]
    if timed:
        head += ["load s", "RSS after load MB", "peak 10 s MB", "1 s ms", "3 s ms", "10 s ms", "x int8 at 3 s",
                 "x floor 1/3/10 s"]
    head += ["FSDD accuracy", "identical to PyTorch fp32"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for mode, e in results["modes"].items():
        if "export_error" in e:
            lines.append(f"| {mode} | refused by the gate: {e['export_error'][:200]} |" + " |" * (len(head) - 2))
            continue
        parity = e.get("parity") or {}
        size = e.get("size_bytes")
        row = [mode, f"{size / 1e6:.2f}" if size else "–", _num(e.get("size_share_of_fp32"), 100, ".1f"),
               ("pass" if parity.get("passed") else "fail") if parity else "–",
               f"{_num(e.get('migrated_sites'))} / {_num(e.get('float_matmuls'))}" if size else "–"]
        if timed:
            lat = e.get("latency") or {}
            row += [_num(e.get("load_s"), 1, ".2f"), _num(e.get("rss_after_load_mb"), 1, ".0f"),
                    _num((lat.get("10") or {}).get("peak_rss_mb"), 1, ".0f")]
            row += [_num((lat.get(k) or {}).get("median_s"), 1000, ".1f") for k in ("1", "3", "10")]
            row += [_num((lat.get("3") or {}).get("x_int8"), 1, ".2f"),
                    "/".join(f"{lat[k]['x_floor']:.2f}" for k in ("1", "3", "10") if k in lat) or "–"]
        row += [_num(e.get("accuracy"), 100, ".2f", "%"), _num(e.get("identical_transcripts"), 100, ".2f", "%")]
        lines.append("| " + " | ".join(row) + " |")
    if results.get("floor_s"):
        lines += ["", "Floor (benchmarks/speed/floor.py's bound, same run): " + ", ".join(
            f"{k} s {v * 1000:.1f} ms" for k, v in results["floor_s"].items())]
    return "\n".join(lines) + "\n"


def _num(value: Any, scale: float = 1, fmt: str = "", suffix: str = "") -> str:
    return "–" if value is None else f"{value * scale:{fmt}}{suffix}"


if __name__ == "__main__":
    raise SystemExit(main())

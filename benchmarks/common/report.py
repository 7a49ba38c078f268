"""Results JSON -> RESULTS.md tables and the latency / agreement plot.

Usage: python -m benchmarks.common.report RESULTS.json [RESULTS.md] [PLOT.png]
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Optional

from benchmarks.common import sections
from phonedge.model_card import Card

REF_KEY = "vs_pytorch_fp32"
SPEEDUP_KEY = "speedup_vs_pytorch_fp32"
MB = 1024 * 1024


def _num(value: Any, fmt: str = ".4f", missing: str = "–") -> str:
    """Format a number, or a dash when absent."""
    return missing if value is None else format(value, fmt)


def _ms(seconds: Optional[float]) -> str:
    return "–" if seconds is None else f"{seconds * 1000:,.1f}"


def _table(head: list[str], rows: list[list[str]], align: Optional[list[str]] = None) -> list[str]:
    """A markdown table; first column left-aligned, the rest right-aligned unless ALIGN says."""
    align = align or ["---"] + ["---:"] * (len(head) - 1)
    return ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"] + ["| " + " | ".join(r) + " |" for r in rows]


def _unavailable(backends: dict[str, Any]) -> list[str]:
    """One line per backend that did not run, with its exact reason."""
    return [f"- **{name}**: {item['status']} — {item.get('error', '')}" for name, item in backends.items()
            if item.get("status") != "ok"]


def environment_section(results: dict[str, Any]) -> list[str]:
    """Machine, instruction sets, threads, versions, date."""
    env = results["environment"]
    cpu = env["cpu"]
    isa = ", ".join(f"{flag} {'yes' if present else 'no'}" for flag, present in cpu["isa"].items())
    settings = results["settings"]
    lines = [
        "## Machine and settings", "",
        f"- Date: {env['date']}; mode: {results['mode']}; total runtime {results.get('runtime_s', 0):.0f} s; "
        f"git commit {env.get('git_commit')}",
        f"- CPU: {cpu['model']} ({cpu['logical_cpus']} logical CPUs, {cpu.get('affinity_cpus')} usable); "
        f"memory {env.get('memory_gib')} GiB; {env['platform']}; Python {env['python']}",
        f"- Instruction sets (from /proc/cpuinfo): {isa}",
        f"- Load average at start: {env.get('load_average_at_start')} (a busy machine slows every backend)",
        f"- Threads: {results['threads']} for every backend, every backend measured in this same run",
        f"  - PyTorch: {settings['pytorch']}",
        f"  - ONNX Runtime (phonedge): {settings['onnxruntime']}",
        f"  - CTranslate2: {settings['ctranslate2']}",
        f"  - Worker environment: {', '.join(f'{k}={v}' for k, v in settings['environment'].items())}",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()),
        "",
    ]
    vnni = cpu["isa"].get("avx512_vnni") or cpu["isa"].get("avx_vnni")
    amx = cpu["isa"].get("amx_int8")
    here = ", ".join(n for n, ok in (("AVX-512 VNNI/AVX-VNNI", vnni), ("AMX", amx)) if ok) or "neither VNNI nor AMX"
    lines += [f"> **int8 speed depends on the instruction set.** This CPU has {here}. int8 kernels use VNNI/AMX "
              "dot products where present; edge CPUs often lack them, so expect smaller int8 gains there.", ""]
    return lines


def speed_section(speed: dict[str, Any]) -> list[str]:
    """Latency, RTF and speed-up, footprint tables."""
    if speed.get("status") != "ok":
        return ["## Speed", "", f"{speed.get('status')}", ""]
    model = speed["model"]
    params = model.get("parameters")
    lengths = speed["lengths_s"]
    plan = speed["plan"]
    backends = speed["backends"]
    ok = {n: b for n, b in backends.items() if b.get("status") == "ok"}
    lines = ["## Speed", "",
             f"Model: `{model['path']}` ({params / 1e6:.1f} M parameters, random weights, seed {model.get('seed')})"
             if params else f"Model: `{model['path']}`",
             f"Input: {speed.get('signal')}. Warm-up {plan['warmup']} call(s), then "
             + ", ".join(f"{plan['repeats'][k]} timed at {k} s" for k in lengths) + ".", "",
             "### Latency, ms (min / median after warm-up)", ""]
    rows = [[f"{n}"] + [f"{_ms(b['latency'][k]['min_s'])} / {_ms(b['latency'][k]['median_s'])}"
                        if k in b["latency"] else "–" for k in lengths] for n, b in ok.items()]
    lines += _table(["Backend"] + [f"{k} s" for k in lengths], rows)
    lines += ["", f"### Real-time factor (median / audio length) and speed-up vs {speed['reference']} "
              "(ratio of medians)", ""]
    key = "speedup_vs_" + speed["reference"].replace("-", "_")
    rows = [[n] + [f"{b['latency'][k]['rtf']:.3f} (×{b['latency'][k].get(key, float('nan')):.2f})"
                   if k in b["latency"] else "–" for k in lengths] for n, b in ok.items()]
    lines += _table(["Backend"] + [f"{k} s" for k in lengths], rows)
    lines += ["", "### Size, load time and memory (each backend in its own process)", ""]
    rows = [[n, f"{b['model_bytes'] / MB:,.1f}", f"{b['import_s']:.2f}", f"{b['load_s']:.2f}",
             f"{b['rss_after_imports_mb']:,.0f}", f"{b['rss_after_load_mb']:,.0f}", f"{b['rss_peak_mb']:,.0f}",
             "yes" if b.get("torch_imported") else "no"] for n, b in ok.items()]
    lines += _table(["Backend", "Model MiB", "Import s", "Load s", "RSS after imports MiB", "RSS after load MiB",
                     "Peak RSS MiB", "torch imported"], rows)
    lines += ["", "Peak RSS is the process's high-water mark (VmHWM) over imports, load and every "
              "timed call; model size is what the backend loads from disk (PyTorch int8: its serialized "
              "quantized state dict)."]
    lines += ["", "### Peak memory while predicting, per input length: MiB (× model size)", ""]
    rows = [[n] + [_peak(b, k) for k in lengths] for n, b in ok.items()]
    lines += _table(["Backend"] + [f"{k} s" for k in lengths], rows)
    lines += ["", "The high-water mark is reset (Linux `/proc/self/clear_refs`) after the model is loaded and "
              "before each length's warm-up, so each figure is the whole process (interpreter, libraries, "
              "weights, activations) while it predicts inputs of that length; the highest of the rounds."]
    missing = _unavailable(backends)
    if missing:
        lines += ["", "Did not run:"] + missing
    lines.append("")
    lines += floor_section(speed.get("floor", {}), ok, speed["reference"])
    return lines + cold_start_section(speed.get("cold_start", {}))


def _peak(backend: dict[str, Any], key: str) -> str:
    peak = backend["latency"].get(key, {}).get("peak_rss_mb")
    if peak is None:
        return "–"
    return f"{peak:,.0f} (×{peak * MB / backend['model_bytes']:.2f})"


def floor_section(floor: dict[str, Any], ok: dict[str, Any], reference: str) -> list[str]:
    """MAC counts, measured GEMM rates and the lower bound they put on int8 latency."""
    if floor.get("status") != "ok":
        return []
    rates = floor["gemm"]["best_macs_per_s"]
    lines = ["### Compute floor of an int8 graph on this CPU (benchmarks/speed/floor.py)", "",
             f"Best measured ONNX Runtime MatMul rates at the model's shapes, {floor['gemm']['threads']} thread(s): "
             f"uint8×int8 {rates['int8'] / 1e9:,.0f} GMAC/s, float32 {rates['float32'] / 1e9:,.0f} GMAC/s. "
             "Floor = int8 MACs / int8 rate + float MACs (first conv, positional conv, attention scores) / "
             "float32 rate; it counts only the MatMuls and convs, so no graph that runs them through these kernels can "
             "beat it. A CPU with faster int8 units (AMX) raises the int8 rate and lowers the floor.", ""]
    phonedge = ok.get("phonedge-int8", {}).get("latency", {})
    rows = []
    for key, entry in floor["lengths"].items():
        measured = phonedge.get(key, {}).get("median_s")
        ref = entry.get("reference_median_s")
        rows.append([
            f"{key} s", f"{entry['int8_macs'] / 1e9:,.1f}", f"{entry['float32_macs'] / 1e9:,.1f}",
            _ms(entry["phonedge_split_s"]), _ms(entry["all_int8_s"]), _ms(ref),
            f"×{entry['max_speedup_phonedge_split']:.2f}" if ref else "–",
            f"×{entry['max_speedup_all_int8']:.2f}" if ref else "–",
            _ms(measured), f"{entry['phonedge_split_s'] / measured:.0%}" if measured else "–",
        ])
    lines += _table(["Audio", "int8 GMAC", "float GMAC", "Floor ms", "Floor ms, all int8", f"{reference} ms",
                     "Max speed-up", "Max, all int8", "phonedge-int8 ms", "Floor / measured"], rows)
    return lines + [""]


def cold_start_section(cold: dict[str, Any]) -> list[str]:
    """CLI vs transformers pipeline, whole fresh processes."""
    lines = ["### Cold start: one 1 s file in a fresh process", ""]
    if "phonedge-cli" not in cold:
        return lines + [f"{cold.get('status', 'skipped')}", ""]
    rows = []
    for name in ("phonedge-cli", "transformers-pipeline"):
        item = cold[name]
        if item.get("status") == "ok":
            rows.append([name, f"{item['min_s']:.2f}", f"{item['median_s']:.2f}", str(item["repeats"]),
                         f"`{item['command'][:90]}`"])
        else:
            rows.append([name, "–", "–", "0", f"failed: {item.get('error', '')[:200]}"])
    lines += _table(["Process", "min s", "median s", "runs", "command"], rows, ["---", "---:", "---:", "---:", "---"])
    if "speedup_phonedge_vs_pipeline" in cold:
        lines += ["", f"phonedge CLI is ×{cold['speedup_phonedge_vs_pipeline']:.2f} faster from process start to "
                  f"transcript (medians; OS file cache {cold.get('os_file_cache')})."]
    return lines + [""]


def accuracy_section(acc: dict[str, Any]) -> list[str]:
    """Model-card figures and agreement with PyTorch fp32 for every backend."""
    if acc.get("status") != "ok":
        return ["## Accuracy", "", f"{acc.get('status')}", ""]
    backends = acc["backends"]
    ok = {n: b for n, b in backends.items() if b.get("status") == "ok"}
    lines = ["## Accuracy", "", f"Model: `{acc['model']}`, {acc['n']} utterances of reference/eval.tsv; class "
             f"decision: {acc['classify']}, identical for every backend.", ""]
    if acc.get("note"):
        lines += [f"> {acc['note']}", ""]
    rows = []
    for n, b in ok.items():
        vs = b.get(REF_KEY, {})
        rows.append([n, _num(b["report"]["Accuracy"]), _num(b["report"]["Macro avg"]["F1-score"]),
                     _num(b["report"]["Weighted avg"]["F1-score"]), _num(b["wer"]), _num(b["cer"]),
                     _num(b["exact_transcripts"], ".3f"), _num(vs.get("transcript_agreement"), ".3f"),
                     _num(vs.get("label_agreement"), ".3f"), _num(vs.get("logit_abs_diff_mean"), ".2e"),
                     _num(vs.get("logit_abs_diff_max"), ".2e")])
    lines += _table(["Backend", "Accuracy", "Macro F1", "Weighted F1", "Wer", "Cer", "Exact transcripts",
                     "Same transcript as PyTorch fp32", "Same class", "mean abs Δlogit", "max abs Δlogit"], rows)
    missing = _unavailable(backends)
    if missing:
        lines += ["", "Did not run:"] + missing
    lines += parity_lines(acc.get("export_parity", {}))
    lines += ["", "### Model-card report per backend", ""]
    for n, b in ok.items():
        lines += model_card(n, b, acc["labels"])
    return lines


def parity_lines(parity: dict[str, Any]) -> list[str]:
    """The exporter's own parity check of each bundle against PyTorch, and whether its default gate passes."""
    if not parity:
        return []
    lines = ["", "Export parity (measured by `phonedge export` against PyTorch; bundles here were written with "
             "the gate off):", ""]
    for key, fig in parity.items():
        if not fig:
            continue
        lines.append(f"- {key}: {fig.get('n_inputs')} {fig.get('inputs')} inputs, transcript agreement "
                     f"{_num(fig.get('transcript_agreement'), '.4f')}, frame argmax agreement "
                     f"{_num(fig.get('frame_argmax_agreement'), '.4f')}, max abs Δlogit "
                     f"{_num(fig.get('max_abs_logit_diff'), '.2e')}; thresholds {fig.get('thresholds')}: "
                     f"{'passes' if fig.get('passed') else '**fails**'} the default gate")
    return lines


def model_card(name: str, figures: dict[str, Any], labels: list[str]) -> list[str]:
    """One backend's model card (phonedge.model_card), folded under its headline figures."""
    report = figures["report"]
    card = Card(labels, report, figures["wer"], figures["cer"], figures["confusion"])
    return [f"<details><summary>{name}: Accuracy {report['Accuracy']:.4f}, Wer {figures['wer']:.4f}, "
            f"Cer {figures['cer']:.4f}</summary>", "", card.markdown().rstrip("\n"), "", "</details>", ""]


def long_audio_section(long: dict[str, Any]) -> list[str]:
    """Peak memory of one predict on 1-20 minutes of audio (reference int8 bundle)."""
    lines = ["## Long audio: peak memory (phonedge int8, reference model)", ""]
    if long.get("status") != "ok":
        return lines + [f"Not run: {long.get('status', 'no data')}", ""]
    rows = [[f"{r['minutes']:g}", f"{r['peak_rss_after_load_bytes'] / 2**20:.0f}", f"{r['peak_rss_bytes'] / 2**20:.0f}",
             f"{r['audio_float32_bytes'] / 2**20:.0f}", f"{r['seconds']:.1f}"]
            if r.get("status") == "ok" else [f"{r['minutes']:g}", "failed", r.get("error", "")[:80], "", ""]
            for r in long["rows"]]
    lines += _table(["Minutes", "Peak RSS after load MiB", "Peak RSS after predict MiB", "Audio float32 MiB",
                     "Predict s"], rows)
    return lines + ["", long.get("note", ""), ""]


def gpu_section(gpu: dict[str, Any]) -> list[str]:
    """The CUDA speed workload, or the line saying why it was skipped."""
    if gpu.get("status") != "ok":
        return ["## GPU", "", f"{gpu.get('status')}; `python -m benchmarks.platforms.gpu` measures the GPU on its own "
                "(see its section below, when it was run)", ""]
    section = speed_section({**gpu, "cold_start": {"status": "not measured on GPU"}})
    return ["## GPU", "", f"{gpu.get('device')}", ""] + section[2:]


def notes_section(results: dict[str, Any]) -> list[str]:
    """What was not measured and why, then the caveats."""
    lines = ["## Not measured, and why", ""]
    lines += [f"- **{name}**: {why}" for name, why in results.get("skipped", {}).items()]
    for section in ("accuracy", "speed"):
        error = results.get(section, {}).get("ct2_error")
        if error:
            lines.append(f"- **ctranslate2-int8 ({section} model)**: {error}")
    lines += ["", "## Notes", ""] + [f"- {note}" for note in results.get("notes", [])]
    return lines + [""]


def markdown(results: dict[str, Any], json_name: str, png_name: str) -> str:
    """The whole RESULTS.md text (the separate benchmarks' sections are carried over by write_report)."""
    lines = ["# phonedge benchmark results", "",
             f"Generated by `python -m benchmarks.run{' --quick' if results['mode'] == 'quick' else ''}` from "
             f"`{json_name}`; do not edit by hand. How to run and read it: benchmarks/README.md.", "",
             f"![latency and agreement]({png_name})", ""]
    lines += environment_section(results)
    lines += speed_section(results.get("speed", {}))
    lines += accuracy_section(results.get("accuracy", {}))
    lines += long_audio_section(results.get("long_audio", {}))
    lines += gpu_section(results.get("gpu", {}))
    lines += notes_section(results)
    return "\n".join(lines)


def _geomean_speedup(item: dict[str, Any]) -> Optional[float]:
    values = [f[SPEEDUP_KEY] for f in item.get("latency", {}).values() if f.get(SPEEDUP_KEY)]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def plot(results: dict[str, Any], path: Path) -> None:
    """latency.png: latency vs audio length per backend; speed-up vs transcript agreement."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    speed = results.get("speed", {})
    ok = {n: b for n, b in speed.get("backends", {}).items() if b.get("status") == "ok"}
    colors = {name: f"C{i}" for i, name in enumerate(speed.get("backends", {}))}
    for name, item in ok.items():
        keys = sorted(item["latency"], key=float)
        xs = [float(k) for k in keys]
        med = [item["latency"][k]["median_s"] for k in keys]
        low = [item["latency"][k]["median_s"] - item["latency"][k]["min_s"] for k in keys]
        left.errorbar(xs, med, yerr=[low, [0] * len(low)], marker="o", capsize=3, label=name, color=colors[name])
    left.set(xscale="log", yscale="log", xlabel="audio length (s)", ylabel="latency (s), median; bar down to min",
             title=f"Latency, {results['threads']} thread(s)")
    lengths = sorted({float(k) for item in ok.values() for k in item["latency"]})
    if lengths:
        left.set_xticks(lengths, [f"{x:g}" for x in lengths])
        left.minorticks_off()
    if ok:
        left.legend(fontsize=8)
    else:
        left.text(0.5, 0.5, "speed not measured", ha="center", transform=left.transAxes)
    acc = results.get("accuracy", {}).get("backends", {})
    points = [(n, _geomean_speedup(ok[n]), acc[n][REF_KEY]["transcript_agreement"]) for n in ok
              if n in acc and REF_KEY in acc.get(n, {})]
    for name, speedup, agreement in points:
        if speedup is not None:
            right.scatter(speedup, agreement * 100, s=50, color=colors[name], label=name, alpha=0.8)
    right.set(xscale="log", xlabel="speed-up vs PyTorch fp32 (geometric mean over lengths, log scale)",
              ylabel="% transcripts identical to PyTorch fp32", title="Speed-up vs transcript agreement")
    if points:
        right.legend(fontsize=8)
    else:
        right.text(0.5, 0.5, "needs both workloads", ha="center", transform=right.transAxes)
    fig.text(0.5, 0.005, "speed: speed-workload model; agreement: accuracy-workload model (see RESULTS.md)",
             ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _relative(target: Path, start: Path) -> str:
    """TARGET relative to the folder START, for links inside the markdown."""
    try:
        return str(target.resolve().relative_to(start.resolve()))
    except ValueError:
        import os

        return os.path.relpath(target.resolve(), start.resolve())


def write_report(results: dict[str, Any], md_path: Path, png_path: Path, json_path: Path) -> None:
    """Write the plot and the markdown report."""
    plot(results, png_path)
    md_path.parent.mkdir(parents=True, exist_ok=True)
    text = markdown(results, _relative(json_path, md_path.parent), _relative(png_path, md_path.parent))
    old = md_path.read_text(encoding="utf-8") if md_path.is_file() else ""
    text = sections.carry_over(old, text)  # the separate benchmarks' sections (benchmarks/common/sections.py)
    md_path.write_text(text, encoding="utf-8")


def main(argv: list[str]) -> int:
    """Regenerate the report from a results JSON."""
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__, file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    json_path = Path(argv[0])
    results = json.loads(json_path.read_text(encoding="utf-8"))
    md_path = Path(argv[1]) if len(argv) > 1 else json_path.with_suffix(".md")
    png_path = Path(argv[2]) if len(argv) > 2 else json_path.with_name(json_path.stem + "-latency.png")
    write_report(results, md_path, png_path, json_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

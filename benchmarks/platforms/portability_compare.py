"""Compare a platform's portability-suite answers with the host's, and render the Portability section.

Answers are what benchmarks/platforms/portability_suite.py writes. Two platforms agree when every transcript
and label of every bundle mode, the CLI's records and exit codes, and every audio format's answer
are identical; logit and decoded-sample differences are measured and reported, not judged.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np

SECTION = "## Portability"
MAX_LISTED = 5  # differing items named per mode in the JSON


def _max_abs(a: Optional[np.ndarray], b: Optional[np.ndarray]) -> Optional[float]:
    if a is None or b is None:
        return None
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0


def _worst(values: list[Optional[float]]) -> Optional[float]:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def same_report(a: Any, b: Any, rel: float = 1e-9) -> bool:
    """Equal JSON values, floats within REL (metrics summed in another order differ in the last digit)."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_report(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_report(x, y, rel) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def accuracy(answers: Mapping[str, Any], truth: Mapping[str, str]) -> Optional[float]:
    """Share of items whose label equals TRUTH's (items in TRUTH only; None when TRUTH is empty)."""
    if not truth:
        return None
    return sum(1 for name, label in truth.items() if answers.get(name, {}).get("label") == label) / len(truth)


def compare_mode(host: Mapping[str, Any], other: Mapping[str, Any], host_arrays: Mapping[str, np.ndarray],
                 other_arrays: Mapping[str, np.ndarray], mode: str, truth: Mapping[str, str]) -> dict[str, Any]:
    """Agreement of one bundle mode's answers (by item name) between the host and another platform."""
    names = sorted(set(host) | set(other))
    same_text = [n for n in names if n in host and n in other and "error" not in host[n]
                 and host[n].get("text") == other[n].get("text")]
    same_label = [n for n in names if n in host and n in other and "error" not in host[n]
                  and host[n].get("label") == other[n].get("label")]
    differing = [n for n in names if n not in same_text or n not in same_label]
    key = f"logits/{mode}/"
    diffs = [_max_abs(host_arrays.get(key + n), other_arrays.get(key + n)) for n in names]
    return {
        "items": len(names),
        "same_text": len(same_text),
        "same_label": len(same_label),
        "errors": sum(1 for side in (host, other) for n in side if "error" in side[n]),
        "differing": differing[:MAX_LISTED],
        "max_abs_logit_diff": _worst(diffs),
        "accuracy_host": accuracy(host, truth),
        "accuracy_other": accuracy(other, truth),
        "identical": bool(names) and len(same_text) == len(same_label) == len(names),
    }


def cli_matches_library(cli: Mapping[str, Any], library: Mapping[str, Any]) -> bool:
    """The CLI's ``predict --json`` records (a subset of the items) equal the library's answers for them."""
    records = cli["predict"]["records"]
    return bool(records) and all(n in library and record == {"text": library[n].get("text"),
                                                             "label": library[n].get("label")}
                                 for n, record in records.items())


def cli_summary(cli: Mapping[str, Any], library: Mapping[str, Any]) -> dict[str, Any]:
    """One platform's CLI outcome: exit codes, no traceback, records equal to the library's."""
    return {
        "predict_exit": cli["predict"]["exit_code"],
        "missing_file_exit": cli["missing_file"]["exit_code"],
        "missing_file_other_lines": cli["missing_file"]["lines_out"],
        "missing_bundle_exit": cli["missing_bundle"]["exit_code"],
        "eval_exit": cli["eval"]["exit_code"],
        "no_traceback": all(cli[k]["exception"] is None and "Traceback" not in cli[k].get("stderr", "")
                            for k in ("predict", "missing_file", "missing_bundle", "eval")),
        "records_equal_library": cli_matches_library(cli, library),
    }


def compare_cli(host: Mapping[str, Any], other: Mapping[str, Any], host_library: Mapping[str, Any],
                other_library: Mapping[str, Any]) -> dict[str, Any]:
    """The CLI on both platforms: the same exit codes and records, and each consistent with its library."""
    mine, theirs = cli_summary(host, host_library), cli_summary(other, other_library)
    return {
        "host": mine,
        "other": theirs,
        "same_records": host["predict"]["records"] == other["predict"]["records"],
        "same_eval_report": same_report(host["eval"]["report"], other["eval"]["report"]),
        "identical": mine == theirs and mine["records_equal_library"] and mine["no_traceback"]
        and host["predict"]["records"] == other["predict"]["records"]
        and same_report(host["eval"]["report"], other["eval"]["report"]),
    }


def compare_formats(host: Mapping[str, Any], other: Mapping[str, Any], host_arrays: Mapping[str, np.ndarray],
                    other_arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Per audio file: the same answer on both platforms, and how far the decoded samples differ."""
    files = {}
    for name in sorted(set(host) | set(other)):
        a, b = host.get(name, {}), other.get(name, {})
        files[name] = {"same_answer": "error" not in a and a == b,
                       "max_abs_sample_diff": _max_abs(host_arrays.get(f"audio/{name}"),
                                                       other_arrays.get(f"audio/{name}"))}
    return {"files": files, "identical": bool(files) and all(f["same_answer"] for f in files.values())}


def compare_run(host: Mapping[str, Any], other: Mapping[str, Any], host_arrays: Mapping[str, np.ndarray],
                other_arrays: Mapping[str, np.ndarray], truth: Mapping[str, str], cli_mode: Optional[str],
                modes_run: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Everything one platform's suite said about MODES_RUN (default: all the host's), compared with the host's."""
    modes = {mode: compare_mode(host["modes"][mode], other["modes"].get(mode, {}), host_arrays, other_arrays,
                                mode, truth) for mode in (modes_run or host["modes"])}
    result: dict[str, Any] = {"environment": other["environment"], "modes": modes}
    if "cli" in host and cli_mode:
        result["cli"] = compare_cli(host["cli"], other.get("cli", {}), host["modes"][cli_mode],
                                    other["modes"].get(cli_mode, {}))
    if "formats" in host:
        result["formats"] = compare_formats(host["formats"], other.get("formats", {}), host_arrays, other_arrays)
    result["identical"] = all(m["identical"] for m in modes.values()) and all(
        result[k]["identical"] for k in ("cli", "formats") if k in result)
    return result


def _fmt(value: Optional[float], spec: str = ".1e") -> str:
    return "–" if value is None else format(value, spec)


def markdown(report: Mapping[str, Any]) -> list[str]:
    """The Portability section of RESULTS.md from portability.json's content."""
    host = report["host"]
    lines = [SECTION, "",
             f"Same bundles, same inputs, answers compared with x86 ({host['machine']}, {host['cpu']}, "
             f"onnxruntime {host['onnxruntime']}). arm64 runs under user-mode emulation "
             f"({report['emulator']['qemu']}, Debian bookworm python3.11 for arm64, aarch64 wheels: "
             + ", ".join(f"{k} {v}" for k, v in report["emulator"]["wheels"].items())
             + "); emulated runs show answers only, never speed. Generated by `make test-arm64` "
             f"({report['generated']}); data in [results/portability.json](results/portability.json).", ""]
    head = ["emulated CPU", "kernel-relevant flags"]
    modes = list(report["modes"])
    head += [f"{m}: transcripts / labels identical" for m in modes]
    head += [f"{m}: max abs logit diff" for m in modes] + ["CLI", "audio formats"]
    rows = []
    for run in report["runs"]:
        cells = [f"`{run['cpu']}`", " ".join(run["environment"]["cpu_flags"]) or "–"]
        cells += [f"{run['modes'][m]['same_text']}/{run['modes'][m]['items']} / "
                  f"{run['modes'][m]['same_label']}/{run['modes'][m]['items']}" if m in run["modes"] else "not run"
                  for m in modes]
        cells += [_fmt(run["modes"][m]["max_abs_logit_diff"]) if m in run["modes"] else "–" for m in modes]
        cells.append("identical" if run.get("cli", {}).get("identical") else "DIFFERENT")
        formats = run.get("formats", {})
        same = sum(1 for f in formats.get("files", {}).values() if f["same_answer"])
        cells.append(f"{same}/{len(formats.get('files', {}))} identical")
        rows.append(cells)
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    full = next((r for r in report["runs"] if set(r["modes"]) == set(modes)), None)
    acc = [f"{m} {_fmt(full['modes'][m]['accuracy_host'], '.4f')}" for m in modes] if full else []
    verdict = "identical answers on every emulated CPU" if report["identical"] else "ANSWERS DIFFER"
    recordings = report.get("recordings", "–")
    tail = f" (accuracy on the {recordings} FSDD recordings, host: {', '.join(acc)})." if acc else "."
    lines += ["", f"Verdict: **{verdict}**{tail}", ""]
    by_format: dict[str, list[dict[str, Any]]] = {}
    for run in report["runs"]:
        for name, result in run.get("formats", {}).get("files", {}).items():
            by_format.setdefault(name.split(".", 1)[-1], []).append(result)
    if by_format:
        lines.append("Audio formats (each recording decoded by the platform's own libsndfile and soxr; answers "
                     "identical on all runs, and the largest difference of the decoded 16 kHz samples): "
                     + ", ".join(f"`{fmt}` {sum(r['same_answer'] for r in results)}/{len(results)}, "
                                 f"{_fmt(_worst([r['max_abs_sample_diff'] for r in results]))}"
                                 for fmt, results in by_format.items()) + ".")
        lines.append("")
    for note in report.get("notes", []):
        lines.append(f"- {note}")
    if report.get("notes"):
        lines.append("")
    return lines

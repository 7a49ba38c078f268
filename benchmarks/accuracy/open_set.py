"""The open-set decision measured: which score separates best, the goals of issue #20, the trade-off, the cost.

    python -m benchmarks.accuracy.open_set [--bundle bundles/reference-int8] [--xlsr-bundle DIR] [--no-espeak]

Sets (never the FSDD test split for calibration; the bundle of `make demo` was calibrated on the
training split): FSDD test recordings of the digits 0-3 (in-set, 120) and 4-9 (180); generated
non-speech (silence, white and brown noise at four levels, 50/60 Hz hum, tones, clicks, chords,
sweeps; 0.5/1/2 s); espeak-ng voices (Debian's) saying the digits and ten other words. Writes
results/open_set.json, results/open_set.png and the "Open set" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from benchmarks.common import sections
from benchmarks.common.environment import cpu_line
from benchmarks.common.paths import FSDD, REPO

RESULTS = REPO / "benchmarks" / "results"
RATE = 16000
DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
OTHER_WORDS = ["yes", "no", "stop", "go", "left", "right", "hello", "cat", "house", "water"]
ESPEAK_VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
                 "en-029", "en-us-nyc"]
THRESHOLDS = [-20.0, -10.0, -5.0, -3.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5]


def log(message: str) -> None:
    """Progress on stderr-like stdout lines."""
    print(f"[open_set] {message}", flush=True)


def non_speech() -> dict[str, np.ndarray]:
    """Sounds that are none of the classes, at 16 kHz."""
    rng = np.random.default_rng(2026)
    out: dict[str, np.ndarray] = {}

    def level(x: np.ndarray, db: float) -> np.ndarray:
        return x / (np.sqrt(np.mean(x ** 2)) + 1e-12) * 10 ** (db / 20)

    for dur in (0.5, 1.0, 2.0):
        n = int(RATE * dur)
        t = np.arange(n) / RATE
        out[f"silence {dur}s"] = np.zeros(n)
        for db in (-60, -40, -30, -20):
            out[f"white noise {db} dBFS {dur}s"] = level(rng.normal(size=n), db)
            brown = np.cumsum(rng.normal(size=n))
            out[f"brown noise {db} dBFS {dur}s"] = level(brown - np.linspace(brown[0], brown[-1], n), db)
        for f0 in (50, 60):
            out[f"hum {f0} Hz {dur}s"] = level(np.sin(2 * np.pi * f0 * t) + 0.3 * np.sin(2 * np.pi * 3 * f0 * t), -20)
        for f0 in (220, 440, 1000, 3000):
            out[f"tone {f0} Hz {dur}s"] = level(np.sin(2 * np.pi * f0 * t), -20)
        clicks = np.zeros(n)
        clicks[rng.integers(0, n, 8)] = 1.0
        out[f"clicks {dur}s"] = level(clicks, -30)
        for name, notes in (("C major", (261.6, 329.6, 392.0)), ("A minor", (220.0, 261.6, 329.6))):
            out[f"chord {name} {dur}s"] = level(sum(np.sin(2 * np.pi * f * t) for f in notes) * np.exp(-1.5 * t), -20)
        out[f"sweep 200-3200 Hz {dur}s"] = level(np.sin(2 * np.pi * (200 * t + 1500 * t ** 2 / dur)), -20)
    return {k: v.astype(np.float32) for k, v in out.items()}


def espeak_set(folder: Path) -> list[tuple[Path, Optional[str], str]]:
    """(wav, label or None, description) for every voice x word x speed espeak-ng can say."""
    items = []
    for voice in ESPEAK_VOICES:
        for speed in (140, 175):
            for word in DIGIT_WORDS + OTHER_WORDS:
                wav = folder / f"{voice}_{speed}_{word}.wav"
                done = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), word],
                                      capture_output=True, text=True)
                if done.returncode != 0 or not wav.is_file():
                    continue
                label = str(DIGIT_WORDS.index(word)) if word in DIGIT_WORDS[:4] else None
                items.append((wav, label, f"{voice} {speed} wpm {word}"))
    return items


def measure(rec: Any, audio: Any, sample_rate: Optional[int] = None) -> dict[str, Any]:
    """The bundle's decision and the raw quantities every candidate score is built from."""
    from phonedge import scoring
    from phonedge.ctc import transcript_ids
    from phonedge.decide import free_path_log_prob

    pred = rec.predict(audio, sample_rate, return_logits=True)
    closed = rec.decoding.decider(None, "ctc")
    lp = scoring.log_softmax(pred.logits.astype(np.float64))
    targets = [transcript_ids(rec.manifest.tokenizer, lab.transcript) for lab in rec.labels]
    ll = scoring.class_log_likelihoods(lp, targets, rec.manifest.tokenizer.blank_id)
    best = int(np.argmax(ll))
    free = free_path_log_prob(lp)
    greedy_ids = [t.id for t in pred.tokens]
    greedy_ll = scoring.ctc_log_likelihood(lp, greedy_ids, rec.manifest.tokenizer.blank_id)
    fits = bool(np.isfinite(ll[best]))
    return {
        "label": pred.label, "reason": pred.label_reason, "score": pred.label_score, "text": pred.text,
        "best": closed.names[best],
        "frames": len(lp), "phonemes": len(targets[best]),
        "llr": float(ll[best] - free) if fits else None,
        "llr_vs_greedy_text": float(ll[best] - greedy_ll) if fits else None,
    }


def candidates(rows: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """How well each candidate score separates the in-set test recordings from the other digits and non-speech."""
    scores: dict[str, Callable[[dict[str, Any]], Optional[float]]] = {
        "per utterance (kept)": lambda r: r["llr"],
        "per frame": lambda r: None if r["llr"] is None else r["llr"] / r["frames"],
        "per class phoneme": lambda r: None if r["llr"] is None else r["llr"] / r["phonemes"],
        "against the greedy transcript": lambda r: r["llr_vs_greedy_text"],
    }
    out = []
    for name, score in scores.items():
        def values(group: str) -> np.ndarray:
            return np.array([-1e9 if score(r) is None else score(r) for r in rows[group]])  # noqa: B023
        inset, other, noise = values("fsdd 0-3"), values("fsdd 4-9"), values("non-speech")
        out.append({"score": name, "auc_other_digits": _auc(inset, other), "auc_non_speech": _auc(inset, noise),
                    "other_digits_kept_at_1pct_in_set_rejection": float(np.mean(other >= np.quantile(inset, 0.01)))})
    return out


def _auc(pos: Any, neg: Any) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos, neg = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def goals(rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The issue's goals with the bundle's own threshold."""
    inset = rows["fsdd 0-3"]
    out: dict[str, Any] = {
        "fsdd_other_digits_rejected": _share(rows["fsdd 4-9"], lambda r: r["label"] is None),
        "non_speech_rejected": _share(rows["non-speech"], lambda r: r["label"] is None),
        "non_speech_reasons": _count(rows["non-speech"], "reason"),
        "in_set_correct": sum(r["label"] == r["truth"] for r in inset),
        "in_set_correct_closed_set": sum(r["best"] == r["truth"] for r in inset),
        "in_set_rejected": sum(r["label"] is None for r in inset),
        "in_set_wrong_class": sum(r["label"] not in (None, r["truth"]) for r in inset),
        "in_set_n": len(inset),
    }
    if rows.get("espeak 0-3"):
        synth = rows["espeak 0-3"]
        out["espeak_in_set_n"] = len(synth)
        out["espeak_in_set_correct"] = sum(r["label"] == r["truth"] for r in synth)
        out["espeak_in_set_correct_closed_set"] = sum(r["best"] == r["truth"] for r in synth)
        lexicon = [line.split("\t")[2] for line in (Path(FSDD) / "lexicon.tsv").read_text().splitlines()[1:]]
        lost = [r for r in synth if r["best"] == r["truth"] and r["label"] is None]
        out["espeak_in_set_lost"] = len(lost)
        out["espeak_in_set_lost_heard_as_other_digit"] = sum(r["text"] in lexicon[4:] for r in lost)
        out["espeak_other_words_rejected"] = _share(rows["espeak other"], lambda r: r["label"] is None)
        out["espeak_other_words_n"] = len(rows["espeak other"])
    return out


def tradeoff(rows: dict[str, list[dict[str, Any]]], thresholds: list[float]) -> list[dict[str, Any]]:
    """Rejections and acceptances if the threshold were each of THRESHOLDS (no-speech rejections stay)."""
    def says(r: dict[str, Any], t: float) -> Optional[str]:
        return r["best"] if r["reason"] in (None, "out_of_set") and r["score"] is not None and r["score"] >= t \
            else None

    table = []
    for t in thresholds:
        row: dict[str, Any] = {"threshold": t}
        for group, items in rows.items():
            if not items:
                continue
            if items[0].get("truth") is not None:
                row[f"{group} rejected"] = _share(items, lambda r, t=t: says(r, t) is None)
                row[f"{group} correct"] = _share(items, lambda r, t=t: says(r, t) == r["truth"])
            else:
                row[f"{group} accepted"] = _share(items, lambda r, t=t: says(r, t) is not None)
        table.append(row)
    return table


def _share(items: list[dict[str, Any]], test: Callable[[dict[str, Any]], bool]) -> float:
    return sum(map(test, items)) / len(items) if items else 0.0


def _count(items: list[dict[str, Any]], key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in items:
        counts[str(r[key])] = counts.get(str(r[key]), 0) + 1
    return counts


def cost(bundle: Path, threads: int, repeats: int) -> dict[str, Any]:
    """The decision's time (speech evidence + class decision) against the whole predict, same run, same audio."""
    import phonedge
    from phonedge.scoring import log_softmax
    from phonedge.speech import speech_evidence

    rec = phonedge.load(bundle, threads=threads)
    decider = rec.decoding.decider()
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {"bundle": str(bundle), "threads": threads, "repeats": repeats}
    for seconds in (1.0, 3.0, 10.0):
        x = (0.05 * rng.normal(size=int(RATE * seconds))).astype(np.float32)
        rec.predict(x, RATE)
        whole, decision = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            pred = rec.predict(x, RATE, return_logits=True)
            t1 = time.perf_counter()
            lp = log_softmax(pred.logits)
            t2 = time.perf_counter()
            decider.decide(lp, pred.text, speech_evidence(x, rec.decoding.grid))
            t3 = time.perf_counter()
            whole.append(t1 - t0)
            decision.append(t3 - t2)
        out[f"{seconds:g}s"] = {"predict_ms": 1000 * float(np.median(whole)),
                                "decision_ms": 1000 * float(np.median(decision)),
                                "share": float(np.median(decision) / np.median(whole))}
        log(f"cost at {seconds:g} s: {out[f'{seconds:g}s']}")
    return out


def collect(bundle: Path, use_espeak: bool) -> dict[str, list[dict[str, Any]]]:
    """Every set measured with the bundle."""
    import phonedge

    rec = phonedge.load(bundle, threads=2)
    rows: dict[str, list[dict[str, Any]]] = {"fsdd 0-3": [], "fsdd 4-9": [], "non-speech": []}
    for wav in sorted((Path(FSDD) / "recordings").glob("*.wav")):
        digit, _speaker, index = wav.stem.split("_")
        if int(index) >= 5:
            continue
        group = "fsdd 0-3" if int(digit) < 4 else "fsdd 4-9"
        rows[group].append({"item": wav.name, "truth": digit if int(digit) < 4 else None, **measure(rec, wav)})
    for name, x in non_speech().items():
        rows["non-speech"].append({"item": name, "truth": None, **measure(rec, x, RATE)})
    log(f"FSDD and non-speech: {', '.join(f'{k} {len(v)}' for k, v in rows.items())}")
    if use_espeak and shutil.which("espeak-ng"):
        rows["espeak 0-3"], rows["espeak other"] = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for wav, label, what in espeak_set(Path(tmp)):
                group = "espeak 0-3" if label is not None else "espeak other"
                rows[group].append({"item": what, "truth": label, **measure(rec, wav)})
        log(f"espeak-ng: {len(rows['espeak 0-3'])} in-set, {len(rows['espeak other'])} other words")
    return rows


def plot(rows: dict[str, list[dict[str, Any]]], threshold: float, path: Path) -> None:
    """The trade-off curve: in-set rejections against other-digit and non-speech acceptances over thresholds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = sorted({r["score"] for items in rows.values() for r in items if r["score"] is not None})
    table = tradeoff(rows, [g for g in grid if -40 <= g <= 3])
    fig, ax = plt.subplots(figsize=(7, 4.2))
    xs = [r["threshold"] for r in table]
    for key, style in (("fsdd 0-3 rejected", "-"), ("fsdd 4-9 accepted", "--"), ("non-speech accepted", ":"),
                       ("espeak 0-3 rejected", "-."), ("espeak other accepted", (0, (1, 3)))):
        if key in table[0]:
            ax.plot(xs, [100 * r[key] for r in table], linestyle=style, label=key)
    ax.axvline(threshold, color="grey", linewidth=0.8)
    ax.text(threshold, 95, f" bundle threshold {threshold:.2f}", fontsize=8)
    ax.set_xlabel("threshold on label_score (nats)")
    ax.set_ylabel("%")
    ax.set_title("Open-set trade-off, reference bundle (FSDD test split, non-speech, espeak-ng)")
    ax.legend(fontsize=8, loc="center left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def section(result: dict[str, Any]) -> str:
    """The RESULTS.md section."""
    g = result["goals"]
    lines = [
        f"`python -m benchmarks.accuracy.open_set` ({result['when']}, {result['cpu']}). Bundle: `{result['bundle']}`, "
        f"threshold {result['threshold']:.3f} nats ({result['threshold_source']}).",
        "",
        "| goal | measured |",
        "|---|---|",
        f"| FSDD digits 4-9 (test split) rejected, goal ≥ 95% | {g['fsdd_other_digits_rejected']:.1%} |",
        f"| non-speech rejected, goal 100% | {g['non_speech_rejected']:.1%} of {result['n']['non-speech']} "
        f"(reasons {g['non_speech_reasons']}) |",
        f"| FSDD 0-3 test correct, goal ≥ 118/120 | {g['in_set_correct']}/{g['in_set_n']} "
        f"({g['in_set_rejected']} rejected, {g['in_set_wrong_class']} wrong class; closed set "
        f"{g['in_set_correct_closed_set']}/{g['in_set_n']}) |",
    ]
    if "espeak_in_set_n" in g:
        n = g["espeak_in_set_n"]
        lines += [
            "| espeak-ng digits 0-3 correct, goal: at most 3 points below closed set | "
            f"{g['espeak_in_set_correct']}/{n} "
            f"({g['espeak_in_set_correct'] / n:.1%}; closed set {g['espeak_in_set_correct_closed_set']}/{n}, "
            f"{g['espeak_in_set_correct_closed_set'] / n:.1%}); of the {g['espeak_in_set_lost']} the open set "
            "loses, "
            f"the model hears {g['espeak_in_set_lost_heard_as_other_digit']} as another digit word exactly "
            "(\"three\" as \"ey t\", \"two\" as \"s ih k s\") |",
            f"| espeak-ng other words rejected, goal ≥ 70% | {g['espeak_other_words_rejected']:.1%} of "
            f"{g['espeak_other_words_n']} |",
        ]
    if result.get("cost"):
        c = result["cost"]
        lines.append("| decision cost, goal < 2% of predict (xlsr-53 size) | " + ", ".join(
            f"{k}: {v['decision_ms']:.2f} of {v['predict_ms']:.0f} ms ({v['share']:.2%})"
            for k, v in c.items() if isinstance(v, dict)) + f" ({c['bundle']}, {c['threads']} threads) |")
    lines += ["", "Candidate scores (area under the ROC curve, FSDD 0-3 test against each set; the kept one first):",
              "", "| score | AUC vs digits 4-9 | AUC vs non-speech (model output alone) "
              "| 4-9 kept at 1% in-set rejection |", "|---|---:|---:|---:|"]
    for c in result["candidates"]:
        lines.append(f"| {c['score']} | {c['auc_other_digits']:.4f} | {c['auc_non_speech']:.4f} | "
                     f"{c['other_digits_kept_at_1pct_in_set_rejection']:.1%} |")
    keys = [k for k in result["tradeoff"][0] if k != "threshold"]
    lines += ["", "Trade-off (no-speech rejections stay at every threshold; curve in results/open_set.png):", "",
              "| threshold | " + " | ".join(keys) + " |", "|---:|" + "---:|" * len(keys)]
    for row in result["tradeoff"]:
        lines.append(f"| {row['threshold']:.2f} | " + " | ".join(f"{100 * row[k]:.1f}%" for k in keys) + " |")
    return "\n".join(lines)


def main() -> None:
    """Measure, write JSON, plot and the RESULTS.md section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=REPO / "bundles" / "reference-int8")
    parser.add_argument("--xlsr-bundle", type=Path, default=None, help="an xlsr-53-size bundle for the cost")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--no-espeak", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "open_set.json")
    args = parser.parse_args()

    import phonedge

    rec = phonedge.load(args.bundle)
    threshold = rec.decoding.open_set.threshold
    cal = rec.manifest.decision.get("calibration")
    rows = collect(args.bundle, not args.no_espeak)
    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_line(), "bundle": str(args.bundle),
        "threshold": threshold,
        "threshold_source": f"calibrated on {cal['in_set']} in-set and {cal['out_of_set']} other recordings of "
                            f"{cal['source']} for {cal['target_in_set_rejection']:.0%} in-set rejection"
                            if cal else "the default",
        "n": {k: len(v) for k, v in rows.items()},
        "candidates": candidates(rows), "goals": goals(rows),
        "tradeoff": tradeoff(rows, sorted(set(THRESHOLDS) | {round(float(threshold), 3)})),
        "rows": rows,
    }
    if args.xlsr_bundle is not None:
        result["cost"] = cost(args.xlsr_bundle, args.threads, args.repeats)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    plot(rows, float(threshold), RESULTS / "open_set.png")
    sections.write("open-set", section(result))
    log(json.dumps(result["goals"]))


if __name__ == "__main__":
    main()

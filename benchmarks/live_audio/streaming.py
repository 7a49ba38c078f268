"""Streaming workload: accuracy of live segmentation, latency and cost of ``Recognizer.stream()``.

Three parts, one JSON file (benchmarks/results/streaming.json) and a "Streaming" section in RESULTS.md:

1. Accuracy (reference model): the 120 FSDD test utterances (reference/eval.tsv) in one stream with
   0.5-1.5 s pauses, fed in 100 ms blocks. Utterances found as their own segment; final labels vs
   ``predict`` on each utterance alone; finals vs ``predict`` on the segment's samples (must be all);
   share of tentative tokens that the next partial (or the final) changes.
2. Virtual clock (xlsr-53-size int8 bundle, 2 threads): FSDD utterances cycled with pauses for
   ``--minutes``. Audio block i arrives at its real time; its ``accept`` starts when both the block
   and the previous call are done and takes its measured compute. The speech events (segments,
   partials, finals) come from the reference model, since random xlsr-53 weights say nothing useful;
   every window and final is also run on the xlsr-53 bundle, and that measured time (plus the
   stream's own numpy work) is what the clock charges. So the latencies are those of an xlsr-53-size
   model that segments like the reference model. RSS is sampled along the way. Speech onset and end
   of each utterance: its first and last 20 ms frame above the stream's energy gate (-50 dBFS).
3. Wall clock: the same hybrid fed in real time from a producer thread for ``--wall-minutes``
   (the listen command's structure), latencies measured on the wall clock.
4. An hour (``--memory-minutes``) on the virtual clock with the reference model alone: RSS and backlog
   over a long stream (the stream's buffers do not depend on the model's size).

    python -m benchmarks.live_audio.streaming [--bundle REF_INT8] [--speed-bundle XLSR_INT8] [--minutes 60]
"""

from __future__ import annotations

import argparse
import json
import queue
import threading
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from benchmarks.common import sections
from benchmarks.common.environment import cpu_line, load_average
from benchmarks.common.worker import peak_rss_mb, rss_mb
from benchmarks.common.paths import REPO

RATE = 16000
BLOCK = RATE // 10  # 100 ms


def log(message: str) -> None:
    """Progress on stderr."""
    import sys

    print(f"[streaming] {message}", file=sys.stderr, flush=True)


def fsdd_rows() -> list[list[str]]:
    """The eval list rows: path, transcript, label."""
    return [line.split("\t") for line in (REPO / "reference" / "eval.tsv").read_text().splitlines()[1:]]


def build_stream(seconds: Optional[float], seed: int = 0) -> tuple[np.ndarray, list[tuple[int, int, str]]]:
    """Utterances with 0.5-1.5 s pauses (all 120 once, or cycled up to SECONDS); sample spans and labels."""
    from phonedge.audio import prepare_audio

    rows = fsdd_rows()
    clips = [(prepare_audio(REPO / "reference" / r[0], None, RATE, 400), r[2]) for r in rows]
    rng = np.random.default_rng(seed)
    parts, spans, at = [np.zeros(RATE, np.float32)], [], RATE
    i = 0
    while (seconds is None and i < len(clips)) or (seconds is not None and at < seconds * RATE):
        x, label = clips[i % len(clips)]
        pause = np.zeros(int(rng.uniform(0.5, 1.5) * RATE), np.float32)
        parts += [x, pause]
        spans.append((at, at + len(x), label))
        at += len(x) + len(pause)
        i += 1
    return np.concatenate(parts), spans


def speech_spans(audio: np.ndarray, spans: list[tuple[int, int, str]], gate_db: float) -> list[tuple[int, int, str]]:
    """Each utterance's speech: from its first to its last 20 ms frame louder than GATE_DB (recordings
    carry some silence of their own), as the latencies' onset and end of speech."""
    from phonedge.speech import frame_energy_db

    out = []
    for start, stop, label in spans:
        x = audio[start:stop]
        frames = max(1, (len(x) - 400) // 320 + 1)
        loud = np.flatnonzero(frame_energy_db(x, frames, 320, 400) >= gate_db)
        if loud.size == 0:
            out.append((start, stop, label))
        else:
            out.append((start + int(loud[0]) * 320, start + min(len(x), int(loud[-1]) * 320 + 400), label))
    return out


def _overlaps(event: Any, span: tuple[int, int, str]) -> bool:
    return event.start_sample < span[1] and event.end_sample > span[0]


def accuracy(bundle: Path, threads: int, opts: Any) -> dict[str, Any]:
    """Part 1: segments vs utterances, labels vs predict, finals vs predict, tentative changes."""
    import phonedge

    rec = phonedge.load(bundle, threads=threads)
    audio, spans = build_stream(None)
    stream = rec.stream(opts)
    events = []
    for at in range(0, len(audio), BLOCK):
        events += stream.accept(audio[at : at + BLOCK])
    events += stream.finish()
    finals = [e for e in events if e.kind == "final"]
    spoken = [e for e in finals if e.tokens]
    own = same_label = true_label = padded_same = 0
    margin = int(0.3 * RATE)
    for span in spans:
        hits = [e for e in spoken if _overlaps(e, span)]
        alone = len(hits) == 1 and not any(_overlaps(hits[0], other) for other in spans if other is not span)
        own += alone
        offline = rec.predict(audio[span[0] : span[1]], RATE)
        # The same utterance offline with 0.3 s of the stream's silence each side: how much context alone moves labels.
        padded_same += rec.predict(audio[span[0] - margin : span[1] + margin], RATE).label == offline.label
        if alone:
            same_label += hits[0].label == offline.label
            true_label += hits[0].label == span[2]
    identical = sum(_final_equals_predict(rec, audio, e) for e in finals)
    changes = tentative_changes(events)
    out = {
        "stream_s": len(audio) / RATE, "utterances": len(spans), "finals": len(finals),
        "finals_with_tokens": len(spoken), "own_segment": own, "own_segment_share": own / len(spans),
        "label_equals_predict": same_label, "label_equals_predict_share": same_label / len(spans),
        "label_equals_truth_share": true_label / len(spans),
        "offline_padded_label_equals_offline_share": padded_same / len(spans),
        "finals_identical_to_predict": identical, "partials": sum(e.kind == "partial" for e in events), **changes,
    }
    log(f"accuracy: {own}/{len(spans)} utterances as their own segment, labels == predict {same_label}, "
        f"finals == predict {identical}/{len(finals)}, tentative changed {changes['tentative_changed_share']:.3f}")
    return out


def _final_equals_predict(rec: Any, audio: np.ndarray, final: Any) -> bool:
    pred = rec.predict(audio[final.start_sample : final.end_sample], RATE)
    offset = final.start_sample / RATE
    shifted = [(t.text, t.id, t.start + offset, t.end + offset, t.confidence) for t in pred.tokens]
    return (final.text == pred.text and [(t.text, t.id, t.start, t.end, t.confidence) for t in final.tokens] == shifted
            and final.label == pred.label and final.label_probs == pred.label_probs)


# A token of a later event is "the same" when it has the same id and starts within one 20 ms frame:
# a final decodes its segment alone, so its token times can move by a frame from the partials'.
SAME_TOKEN_S = 0.021


def _kept(token: Any, later: list[Any]) -> bool:
    return any(t.id == token.id and abs(t.start - token.start) <= SAME_TOKEN_S for t in later)


def tentative_changes(events: list[Any]) -> dict[str, Any]:
    """Share of tentative tokens missing (same id, start within a frame) from the segment's next event; stable
    partial tokens missing from the final."""
    tentative = changed = stable = stable_not_final = 0
    pending: list[Any] = []  # the tentative tokens of the previous partial
    seg_stable: list[Any] = []
    for event in events:
        changed += sum(not _kept(t, event.tokens) for t in pending)
        if event.kind == "final":
            stable += len(seg_stable)
            stable_not_final += sum(not _kept(t, event.tokens) for t in seg_stable)
            pending, seg_stable = [], []
        else:
            tentative += len(event.tentative)
            pending, seg_stable = list(event.tentative), list(event.stable)
    return {"tentative_tokens": tentative, "tentative_changed": changed,
            "tentative_changed_share": changed / tentative if tentative else 0.0,
            "stable_tokens_at_final": stable, "stable_not_in_final": stable_not_final,
            "stable_not_in_final_share": stable_not_final / stable if stable else 0.0}


class ChargedRecognizer:
    """The reference recogniser's answers, with the same windows and finals also run on a speed bundle.

    ``charged`` accumulates the speed bundle's time; ``free`` the reference model's own time
    (which the clock does not charge).
    """

    def __init__(self, answers: Any, speed: Any) -> None:
        """Wrap two loaded recognisers of the same sample rate and frame grid."""
        self._answers, self._speed = answers, speed
        self.charged = self.free = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._answers, name)

    def _both(self, method: str, x: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        if self._speed is not None:
            getattr(self._speed, method)(x)
        t1 = time.perf_counter()
        out = getattr(self._answers, method)(x)
        t2 = time.perf_counter()
        if self._speed is None:  # no speed bundle: the reference model's own time is charged
            self.charged += t2 - t1
        else:
            self.charged += t1 - t0
            self.free += t2 - t1
        return out

    def window_logits(self, window: np.ndarray) -> np.ndarray:
        """Reference logits; the speed bundle's time is charged."""
        return self._both("window_logits", window)

    def logits(self, samples: np.ndarray) -> np.ndarray:
        """Reference logits; the speed bundle's time is charged."""
        return self._both("logits", samples)


class LatencyMeter:
    """First-token, commit and final latencies, accumulated event by event (holds no events)."""

    def __init__(self, spans: list[tuple[int, int, str]]) -> None:
        """Latencies against these utterance spans (samples)."""
        self.starts = np.array([s[0] for s in spans]) / RATE
        self.ends = np.array([s[1] for s in spans]) / RATE
        self.first: dict[int, float] = {}
        self.final: list[float] = []
        self.commit: list[float] = []
        self._committed: dict[tuple[int, float], float] = {}  # the open segment's stable tokens

    def _utterance(self, t: float) -> int:
        return int(np.searchsorted(self.starts, t, side="right") - 1)

    def add(self, when: float, event: Any) -> None:
        """Account for one event emitted at WHEN (seconds on the clock of the run)."""
        for tok in event.tokens:
            u = self._utterance(tok.start)
            if u >= 0 and tok.start <= self.ends[u] + 0.3:
                self.first.setdefault(u, when - self.starts[u])
        for tok in event.stable:
            self._committed.setdefault((tok.id, round(tok.start, 2)), when)
        if event.kind == "final":
            if event.tokens:
                u = self._utterance(event.tokens[-1].start)
                if u >= 0:
                    self.final.append(when - self.ends[u])
            for tok in event.tokens:
                self.commit.append(min(self._committed.get((tok.id, round(tok.start, 2)), when), when) - tok.end)
            self._committed = {}

    def figures(self) -> dict[str, Any]:
        """p50/p90 of each latency."""
        def pct(values: list[float]) -> dict[str, Any]:
            if not values:
                return {"p50": None, "p90": None, "n": 0}
            return {"p50": float(np.percentile(values, 50)), "p90": float(np.percentile(values, 90)),
                    "n": len(values)}

        return {"first_token_s": pct(list(self.first.values())), "commit_s": pct(self.commit),
                "final_s": pct(self.final)}


def virtual_clock(answers: Path, speed: Optional[Path], threads: int, minutes: float, opts: Any) -> dict[str, Any]:
    """Part 2: the stream on a clock that charges measured compute (SPEED None: the reference model's own)."""
    import phonedge
    from phonedge.stream import Stream

    rec = ChargedRecognizer(phonedge.load(answers, threads=threads),
                            None if speed is None else phonedge.load(speed, threads=threads))
    audio, spans = build_stream(minutes * 60, seed=1)
    # Built on the wrapper itself (rec.stream() would hand the stream the inner recogniser).
    stream = Stream(rec, opts)
    log(f"virtual clock: {len(audio) / RATE / 60:.1f} min of audio, {len(spans)} utterances")
    done = 0.0
    meter = LatencyMeter(speech_spans(audio, spans, stream.options.energy_gate_db or -50.0))
    blocks = range(0, len(audio), BLOCK)
    # Preallocated so that the run's own records do not grow the RSS it samples.
    lags, charges = np.zeros(len(blocks)), np.zeros(len(blocks))
    memory: list[tuple[float, float]] = []
    t_start = time.perf_counter()
    for n, at in enumerate(blocks):
        arrival = (at + BLOCK) / RATE
        before_free = rec.free
        t0 = time.perf_counter()
        events = stream.accept(audio[at : at + BLOCK])
        if at + BLOCK >= len(audio):
            events += stream.finish()
        charge = time.perf_counter() - t0 - (rec.free - before_free)
        done = max(done, arrival) + charge
        charges[n] = charge
        lags[n] = done - min(arrival, len(audio) / RATE)
        for e in events:
            meter.add(done, e)
        if n % 100 == 0:  # every 10 s of audio
            memory.append((arrival, rss_mb()))
        if n % 6000 == 0 and n:
            log(f"  {arrival / 60:.0f} min: RTF so far {charges[: n + 1].sum() / arrival:.3f}, lag {lags[n]:.2f} s, "
                f"RSS {memory[-1][1]:.0f} MiB ({time.perf_counter() - t_start:.0f} s)")
    tenth = max(1, len(lags) // 10)
    mem = np.array([m for _, m in memory])
    head = mem[: max(1, len(mem) // 10)]
    tail = mem[-max(1, len(mem) // 10) :]
    out = {
        "audio_min": len(audio) / RATE / 60, "utterances": len(spans), "block_ms": 1000 * BLOCK / RATE,
        "rtf": float(charges.sum()) / (len(audio) / RATE),
        "rtf_first_tenth": float(charges[:tenth].sum()) / (tenth * BLOCK / RATE),
        "rtf_last_tenth": float(charges[-tenth:].sum()) / (tenth * BLOCK / RATE),
        "max_backlog_s": float(lags.max()), "mean_backlog_first_tenth_s": float(np.mean(lags[:tenth])),
        "mean_backlog_last_tenth_s": float(np.mean(lags[-tenth:])),
        "rss_mb_first_tenth_mean": float(head.mean()), "rss_mb_last_tenth_mean": float(tail.mean()),
        "rss_mb_min": float(mem.min()), "rss_mb_max": float(mem.max()), "peak_rss_mb": peak_rss_mb(),
        "rss_samples": [(round(t, 1), round(m, 1)) for t, m in memory],
        **meter.figures(),
    }
    if speed is not None and rec.charged <= 0:
        raise RuntimeError("the speed bundle was never run: the clock would charge nothing")
    log(f"virtual clock: charged {rec.charged:.1f} s of speed-bundle compute, reference model {rec.free:.1f} s")
    log(f"virtual clock: RTF {out['rtf']:.3f}, first token p50 {out['first_token_s']['p50']}, "
        f"commit p50 {out['commit_s']['p50']}, final p50 {out['final_s']['p50']}, max backlog "
        f"{out['max_backlog_s']:.2f} s")
    return out


def wall_clock(answers: Path, speed: Path, threads: int, minutes: float, opts: Any) -> dict[str, Any]:
    """Part 3: blocks arrive in real time from a producer thread; events timed on the wall clock."""
    import phonedge
    from phonedge.stream import Stream

    rec = ChargedRecognizer(phonedge.load(answers, threads=threads), phonedge.load(speed, threads=threads))
    audio, spans = build_stream(minutes * 60, seed=2)
    blocks: queue.Queue[Optional[np.ndarray]] = queue.Queue()
    t0 = time.monotonic()

    def produce() -> None:
        for at in range(0, len(audio), BLOCK):
            delay = t0 + (at + BLOCK) / RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            blocks.put(audio[at : at + BLOCK])
        blocks.put(None)

    threading.Thread(target=produce, daemon=True).start()
    # Built on the wrapper itself (rec.stream() would hand the stream the inner recogniser).
    stream = Stream(rec, opts)
    meter = LatencyMeter(speech_spans(audio, spans, stream.options.energy_gate_db or -50.0))
    max_queue = 0
    while True:
        max_queue = max(max_queue, blocks.qsize())
        block = blocks.get()
        events = stream.finish() if block is None else stream.accept(block)
        now = time.monotonic() - t0
        for e in events:
            meter.add(now, e)
        if block is None:
            break
    out = {"audio_min": len(audio) / RATE / 60, "utterances": len(spans), "max_queued_blocks": max_queue,
           "finished_after_s": time.monotonic() - t0, **meter.figures()}
    log(f"wall clock: first token p50 {out['first_token_s']['p50']}, commit p50 {out['commit_s']['p50']}, "
        f"final p50 {out['final_s']['p50']}, most blocks queued {max_queue}")
    return out


def markdown(results: dict[str, Any]) -> str:
    """The RESULTS.md section."""
    a, v, w = results["accuracy"], results.get("virtual_clock"), results.get("wall_clock")
    opts = results["options"]
    lines = [
        "## Streaming", "", "![streaming memory and latency](results/streaming.png)", "",
        f"`python -m benchmarks.live_audio.streaming` ({results['date']}, CPU: {results['cpu']}, "
        f"{results['threads']} threads, "
        f"load average at start {results['load_average']}). Stream settings: "
        + ("the defaults " if not results.get("changed") else f"--set {', '.join(results['changed'])} ")
        + f"(windows of {opts['left_s']} s left context + {opts['hop_s']} s hop + {opts['right_s']} s right context, "
        f"endpoint after {opts['endpoint_silence_s']} s without speech, energy gate {opts['energy_gate_db']} dBFS, "
        f"segment edges {opts.get('edge_margin_s', 0)} s beyond the loud run, at most {opts['pre_speech_s']} / "
        f"{opts['post_speech_s']} s from the speech), 100 ms blocks.", "",
        f"**Accuracy, reference model** (int8 bundle; the 120 FSDD test utterances in one {a['stream_s']:.0f} s stream "
        "with 0.5-1.5 s pauses):", "",
        "| Figure | Value |", "|---|---:|",
        f"| Utterances found as their own segment | {a['own_segment']} / {a['utterances']} "
        f"({a['own_segment_share']:.1%}) |",
        f"| Final label = `predict` label of the utterance alone | {a['label_equals_predict']} / {a['utterances']} "
        f"({a['label_equals_predict_share']:.1%}) |",
        f"| Final label = true label | {a['label_equals_truth_share']:.1%} |",
        f"| Control: `predict` on the utterance with 0.3 s of silence each side = `predict` on the bare utterance | "
        f"{a['offline_padded_label_equals_offline_share']:.1%} |",
        f"| Finals identical to `predict` on the segment's samples | {a['finals_identical_to_predict']} / "
        f"{a['finals']} |",
        f"| Tentative tokens changed by the next event (same id within a frame) | {a['tentative_changed']} / "
        f"{a['tentative_tokens']} ({a['tentative_changed_share']:.1%}) |",
        f"| Stable partial tokens not in the final | {a['stable_not_in_final']} / {a['stable_tokens_at_final']} "
        f"({a['stable_not_in_final_share']:.1%}) |", "",
    ]
    if v:
        def p(d: dict[str, Any]) -> str:
            return "n/a" if d["p50"] is None else f"{d['p50']:.2f} / {d['p90']:.2f}"

        lines += [
            f"**Latency and cost, xlsr-53-size int8 bundle** (random weights; segments from the reference model, "
            f"compute charged from the xlsr-53 bundle run on the same windows and finals; see the module docstring). "
            f"Virtual clock over {v['audio_min']:.0f} min of audio ({v['utterances']} utterances)"
            + (f"; wall clock over {w['audio_min']:.0f} min fed in real time" if w else "") + ":", "",
            "| Figure | Virtual clock | Wall clock |", "|---|---:|---:|",
            f"| Real-time factor (compute / audio) | {v['rtf']:.3f} (first tenth {v['rtf_first_tenth']:.3f}, "
            f"last tenth {v['rtf_last_tenth']:.3f}) | |",
            "| First token after speech onset (first frame above the energy gate), p50 / p90 s | "
            f"{p(v['first_token_s'])} | {p(w['first_token_s']) if w else ''} |",
            f"| Commit latency (token stable or final - token end), p50 / p90 s | {p(v['commit_s'])} | "
            f"{p(w['commit_s']) if w else ''} |",
            f"| Final after end of speech, p50 / p90 s | {p(v['final_s'])} | {p(w['final_s']) if w else ''} |",
            f"| Largest backlog | {v['max_backlog_s']:.2f} s (mean first tenth "
            f"{v['mean_backlog_first_tenth_s']:.2f} s, last tenth {v['mean_backlog_last_tenth_s']:.2f} s) | "
            + (f"{w['max_queued_blocks']} blocks queued at most |" if w else "|"),
            f"| RSS, MiB | {v['rss_mb_min']:.0f}-{v['rss_mb_max']:.0f} (mean first tenth "
            f"{v['rss_mb_first_tenth_mean']:.0f}, last tenth {v['rss_mb_last_tenth_mean']:.0f}); peak "
            f"{v['peak_rss_mb']:.0f} (both models, and the run's own "
            f"{v['audio_min'] * 60 * RATE * 4 / 2**20:.0f} MiB float32 copy of the "
            "stream's audio) | |", "",
        ]
    r = results.get("reference_long")
    if r:
        lines += [
            f"**An hour-long stream, reference model's own compute** ({r['audio_min']:.0f} min, {r['utterances']} "
            f"utterances, RSS sampled every 10 s of audio"
            + (f"; from the run of {r['from_run']}" if r.get("from_run") else "")
            + f"): real-time factor {r['rtf']:.3f} (first tenth "
            f"{r['rtf_first_tenth']:.3f}, last tenth {r['rtf_last_tenth']:.3f}); largest backlog "
            f"{r['max_backlog_s']:.2f} s; RSS {r['rss_mb_min']:.0f}-{r['rss_mb_max']:.0f} MiB (mean first tenth "
            f"{r['rss_mb_first_tenth_mean']:.1f}, last tenth {r['rss_mb_last_tenth_mean']:.1f}).", "",
        ]
    return "\n".join(lines)


# The issue's goals for an xlsr-53-size int8 stream on 2 threads, drawn on the plot.
GOALS_S = {"first_token_s": 0.5, "commit_s": 1.2, "final_s": 1.0}


def plot(results: dict[str, Any], path: Path) -> None:
    """streaming.png: RSS over the virtual-clock stream; latency p50/p90 per clock against the goals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    v, w = results.get("virtual_clock"), results.get("wall_clock")
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
    if v and v.get("rss_samples"):
        t, rss = zip(*v["rss_samples"])
        left.plot([x / 60 for x in t], rss, color="C0")
        left.set_ylim(0, max(rss) * 1.15)
    left.set(xlabel="stream time (min)", ylabel="RSS (MiB)",
             title=f"Memory over the stream (virtual clock, RTF {v['rtf']:.2f})" if v else "no virtual-clock run")
    names = list(GOALS_S)
    for i, (clock, label) in enumerate(((v, "virtual clock"), (w, "wall clock"))):
        if not clock:
            continue
        xs = [k + (i - 0.5) * 0.35 for k in range(len(names))]
        p50 = [clock[n]["p50"] or 0 for n in names]
        p90 = [clock[n]["p90"] or 0 for n in names]
        right.bar(xs, p50, width=0.35, color=f"C{i}", label=f"{label} p50")
        right.scatter(xs, p90, marker="_", s=300, color=f"C{i}", label=f"{label} p90")
    for k, n in enumerate(names):
        right.hlines(GOALS_S[n], k - 0.4, k + 0.4, colors="k", linestyles="dashed",
                     label="goal (p50)" if k == 0 else None)
    right.set_xticks(range(len(names)),
                     ["first token\nafter onset", "commit\n(token stable)", "final after\nend of speech"])
    right.set(ylabel="seconds", title="Latency, xlsr-53-size int8, 2 threads")
    right.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def sweep_markdown(runs: list[dict[str, Any]]) -> str:
    """The RESULTS.md section for a settings sweep: one row per earlier run's JSON (accuracy + virtual clock)."""
    first = runs[0]
    lines = [
        "## Streaming settings sweep", "",
        f"Each row is one `python -m benchmarks.live_audio.streaming --minutes 3 --wall-minutes 0 --memory-minutes 0 "
        f"--set ...` run ({first['date']} to {runs[-1]['date']}, CPU: {first['cpu']}, {first['threads']} threads): "
        "latency and cost on the virtual clock with the xlsr-53-size int8 bundle, segments and labels on the "
        "FSDD stream with the reference model (speed bundle: `"
        + first.get("speed_bundle_export", first["speed_bundle"])
        + "`, today's default graph). Figures from "
        "separate runs on a shared VM: compare loosely.", "",
        "| left / hop / right s | endpoint s | RTF | first token p50 s | commit p50 s | final p50 s | largest backlog "
        "s "
        "| own segment | label = predict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        o, a, v = r["options"], r["accuracy"], r["virtual_clock"]
        lines.append(
            f"| {o['left_s']} / {o['hop_s']} / {o['right_s']} | {o['endpoint_silence_s']} | {v['rtf']:.3f} | "
            f"{v['first_token_s']['p50']:.2f} | {v['commit_s']['p50']:.2f} | {v['final_s']['p50']:.2f} | "
            f"{v['max_backlog_s']:.2f} | {a['own_segment']}/{a['utterances']} | "
            f"{a['label_equals_predict']}/{a['utterances']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the parts asked for and write the figures."""
    import phonedge

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=REPO / "bundles" / "reference-int8")
    parser.add_argument("--speed-bundle", type=Path, default=REPO / "benchmarks" / ".cache" / "xlsr53" / "bundle-int8")
    parser.add_argument("--minutes", type=float, default=60.0, help="Virtual-clock stream length (0: skip).")
    parser.add_argument("--wall-minutes", type=float, default=3.0, help="Wall-clock stream length (0: skip).")
    parser.add_argument("--memory-minutes", type=float, default=60.0,
                        help="Reference-model stream length for memory and backlog over time (0: skip).")
    parser.add_argument("--hour-from", type=Path, default=None,
                        help="Take part 4 from an earlier run's JSON instead of running it (the section says when).")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "streaming.json")
    parser.add_argument("--results-md", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="NAME=VALUE",
                        help="Change one StreamOptions setting for this run (repeatable), e.g. --set hop_s=0.3.")
    parser.add_argument("--plot", type=Path, default=REPO / "benchmarks" / "results" / "streaming.png")
    parser.add_argument("--plot-from", type=Path, default=None, metavar="JSON",
                        help="Only redraw the plot and the section from an earlier run's JSON, then stop.")
    parser.add_argument("--sweep-table", type=Path, default=None, metavar="DIR",
                        help="Only render the sweep section of RESULTS.md from the run JSONs in DIR, then stop.")
    args = parser.parse_args()

    if args.sweep_table is not None:
        runs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(args.sweep_table.glob("*.json"))]
        sections.write("streaming-sweep", sweep_markdown(runs), args.results_md)
        log(f"wrote the sweep section of {args.results_md} from {len(runs)} runs")
        return

    if args.plot_from is not None:
        earlier = json.loads(args.plot_from.read_text(encoding="utf-8"))
        plot(earlier, args.plot)
        sections.write("streaming", markdown(earlier), args.results_md)
        log(f"drew {args.plot} and the Streaming section of {args.results_md} from {args.plot_from}")
        return

    opts = phonedge.StreamOptions().replace(**dict(_setting(s) for s in args.settings))
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_line(), "threads": args.threads,
        "load_average": load_average(),
        "options": {k: getattr(opts, k) for k in ("left_s", "hop_s", "right_s", "endpoint_silence_s",
                                                  "pre_speech_s", "post_speech_s", "max_segment_s", "detector",
                                                  "energy_gate_db")},
        "bundle": str(args.bundle), "speed_bundle": str(args.speed_bundle), "changed": args.settings,
    }
    results["accuracy"] = accuracy(args.bundle, args.threads, opts)
    if args.minutes > 0:
        results["virtual_clock"] = virtual_clock(args.bundle, args.speed_bundle, args.threads, args.minutes, opts)
    if args.hour_from is not None:
        earlier = json.loads(args.hour_from.read_text(encoding="utf-8"))
        results["reference_long"] = {**earlier["reference_long"], "from_run": earlier["date"]}
    elif args.memory_minutes > 0:
        log("an hour-long stream with the reference model's own compute (memory and backlog over time)")
        results["reference_long"] = virtual_clock(args.bundle, None, args.threads, args.memory_minutes, opts)
    if args.wall_minutes > 0:
        results["wall_clock"] = wall_clock(args.bundle, args.speed_bundle, args.threads, args.wall_minutes, opts)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    sections.write("streaming", markdown(results), args.results_md)
    plot(results, args.plot)
    log(f"wrote {args.out}, {args.plot} and the Streaming section of {args.results_md}")


def _setting(text: str) -> tuple[str, Any]:
    """NAME=VALUE from --set, VALUE read as a number (or none/None for an optional setting)."""
    name, sep, value = text.partition("=")
    if not sep:
        raise SystemExit(f"--set takes NAME=VALUE, got {text!r}")
    return name.strip(), None if value.strip().lower() == "none" else float(value)


if __name__ == "__main__":
    main()

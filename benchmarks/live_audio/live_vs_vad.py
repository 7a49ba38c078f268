"""Live audio side by side: phonedge's ``rec.stream()`` against a VAD + offline-decoding pipeline, same audio and graph.

The audio: the 120 FSDD test utterances (reference/eval.tsv) in one stream with 0.6-1.5 s pauses of
digital silence, fed in 100 ms blocks. Both pipelines run on the virtual clock of
benchmarks/live_audio/streaming.py: block i arrives at its real time, a call starts when the block and the
previous call are done and takes its compute. The text comes from the reference model; each model
call is charged what the xlsr-53-size int8 bundle takes for that many samples (a cost table measured
at the start, the fastest of ``--repeats`` runs per length, so that other work on a shared machine
inflates it least), plus each pipeline's own measured work (detector, numpy).

- phonedge: ``Stream`` with its defaults (Silero VAD detector when installed), and variants (``--sweep``).
- VAD + offline (sherpa-onnx's ``vad-with-non-streaming-asr`` shape, our own code): Silero VAD
  probabilities on 32 ms chunks, speech while at least 0.5; a segment starts two chunks before the
  first speech chunk, ends at the end of its last one, closes after 0.25 s below the threshold and
  is dropped when its speech lasts under 0.25 s; each closed segment is decoded offline
  (``predict`` on its samples). No partials.

Figures per pipeline: final after the end of speech (last 20 ms frame above -50 dBFS) p50/p90;
compute per second of audio (RTF); first partial after speech onset; utterances found as their own
segment; finals equal to ``predict`` on the whole utterance, and to the dictionary transcript.

    python -m benchmarks.live_audio.live_vs_vad [--bundle REF_INT8] [--speed-bundle XLSR_INT8] [--sweep]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from benchmarks.common import sections
from benchmarks.common.environment import cpu_line, load_average
from benchmarks.live_audio.streaming import BLOCK, RATE, REPO, LatencyMeter, fsdd_rows, log, speech_spans

VAD_THRESHOLD = 0.5
VAD_SILENCE_S = 0.25
VAD_MIN_SPEECH_S = 0.25
VAD_PAD_CHUNKS = 2


COST_LENGTHS_S = (0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.3, 1.6, 2.0, 2.5, 3.0)


def cost_table(speed: Any, repeats: int) -> dict[str, list[float]]:
    """Seconds of one xlsr-53 call per input length, the minimum of REPEATS (a shared machine only slows runs down)."""
    rng = np.random.default_rng(0)
    table: dict[str, list[float]] = {"length_s": list(COST_LENGTHS_S), "window_logits": [], "logits": []}
    for length in COST_LENGTHS_S:
        x = rng.normal(0, 0.1, int(length * RATE)).astype(np.float32)
        for method in ("window_logits", "logits"):
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                getattr(speed, method)(x)
                times.append(time.perf_counter() - t0)
            table[method].append(min(times))
    log("cost table (s): " + ", ".join(f"{n} s {w:.3f}/{f:.3f}" for n, w, f in
                                       zip(table["length_s"], table["window_logits"], table["logits"])))
    return table


class CostedRecognizer:
    """The reference recogniser's answers; each model call charged the xlsr-53 cost table's time for its length.

    ``charged`` sums the table's time; ``free`` the reference model's own time (the clock does not charge it).
    """

    def __init__(self, answers: Any, table: dict[str, list[float]]) -> None:
        """Answers from ANSWERS, costs from TABLE (cost_table)."""
        self._answers, self._table = answers, table
        self.charged = self.free = 0.0
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._answers, name)

    def _cost(self, method: str, n: int) -> float:
        lengths, costs = np.array(self._table["length_s"]), np.array(self._table[method])
        at = n / RATE
        if at <= lengths[-1]:
            return float(np.interp(at, lengths, costs))
        slope = (costs[-1] - costs[-2]) / (lengths[-1] - lengths[-2])
        return float(costs[-1] + slope * (at - lengths[-1]))

    def _call(self, method: str, x: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        out = getattr(self._answers, method)(x)
        self.free += time.perf_counter() - t0
        self.charged += self._cost(method, len(x))
        self.calls += 1
        return out

    def window_logits(self, window: np.ndarray) -> np.ndarray:
        """Reference logits; the table's time for this length is charged."""
        return self._call("window_logits", window)

    def logits(self, samples: np.ndarray) -> np.ndarray:
        """Reference logits; the table's time for this length is charged."""
        return self._call("logits", samples)


def build_audio(seed: int = 0) -> tuple[np.ndarray, list[tuple[int, int, str]], list[str]]:
    """The 120 test utterances with 0.6-1.5 s pauses: audio, spans (with labels), dictionary transcripts."""
    from phonedge.audio import prepare_audio

    rows = fsdd_rows()
    rng = np.random.default_rng(seed)
    parts, spans, at = [np.zeros(RATE, np.float32)], [], RATE
    for path, _, label in rows:
        x = prepare_audio(REPO / "reference" / path, None, RATE, 400)
        pause = np.zeros(int(rng.uniform(0.6, 1.5) * RATE), np.float32)
        parts += [x, pause]
        spans.append((at, at + len(x), label))
        at += len(x) + len(pause)
    return np.concatenate(parts), spans, [r[1] for r in rows]


class VadOffline:
    """Silero VAD segments (threshold, 0.25 s silence, 0.25 s minimum speech), each decoded offline."""

    def __init__(self, rec: Any) -> None:
        """Decode with REC (a LogitsEngine), the bundle's own class decision."""
        from phonedge.vad import _SILERO_CHUNK, _SILERO_CONTEXT, _silero_session, silero_model_path

        path = silero_model_path()
        if path is None:
            raise SystemExit("the VAD + offline pipeline needs silero-vad: pip install --no-deps silero-vad")
        self.rec, self.decoding = rec, rec.decoding
        self.decider = self.decoding.decider()
        self.session = _silero_session(str(path))
        self.chunk, context = _SILERO_CHUNK[RATE], _SILERO_CONTEXT[RATE]
        self.state = np.zeros((2, 1, 128), np.float32)
        self.context = np.zeros(context, np.float32)
        self.audio = np.zeros(0, np.float32)  # all samples so far (the benchmark's audio is short)
        self.done = 0  # samples run through the VAD
        self.start: Optional[int] = None  # first speech chunk's start of the open segment
        self.last_end = 0  # end of the open segment's last speech chunk
        self.silence = 0

    def accept(self, x: np.ndarray) -> list[Any]:
        """Run the VAD on whole chunks; decode each segment it closes."""
        self.audio = np.concatenate([self.audio, x])
        finals = []
        while self.done + self.chunk <= len(self.audio):
            chunk = self.audio[self.done : self.done + self.chunk]
            feed = np.concatenate([self.context, chunk])[None, :]
            prob, self.state = self.session.run(None, {"input": feed, "state": self.state,
                                                       "sr": np.array(RATE, np.int64)})
            self.context = chunk[-len(self.context):].copy()
            p = float(np.asarray(prob).reshape(-1)[0])
            at, self.done = self.done, self.done + self.chunk
            if p >= VAD_THRESHOLD:
                if self.start is None:
                    self.start = at
                self.last_end, self.silence = self.done, 0
            elif self.start is not None:
                self.silence += self.chunk
                if self.silence >= VAD_SILENCE_S * RATE:
                    final = self._close(self.done / RATE)
                    if final is not None:
                        finals.append(final)
        return finals

    def finish(self) -> list[Any]:
        """Close the open segment."""
        final = self._close(len(self.audio) / RATE) if self.start is not None else None
        return [] if final is None else [final]

    def _close(self, now: float) -> Any:
        from phonedge.stream import StreamEvent

        assert self.start is not None
        speech_start, end = self.start, self.last_end
        self.start, self.silence = None, 0
        if end - speech_start < VAD_MIN_SPEECH_S * RATE:
            return None
        start = max(0, speech_start - VAD_PAD_CHUNKS * self.chunk)
        samples = self.audio[start:end]
        pred = self.decoding.prediction(self.rec.logits(samples), samples, self.decider)
        tokens = [t.shifted(start / RATE) for t in pred.tokens]
        return StreamEvent("final", pred.text, tokens, list(tokens), [], start / RATE, end / RATE, now,
                           pred.confidence, pred.label, pred.label_probs, pred.label_score, pred.label_reason,
                           start, end)


def run_clock(pipeline: Any, rec: CostedRecognizer, audio: np.ndarray, meter: LatencyMeter) -> dict[str, Any]:
    """Feed 100 ms blocks on the virtual clock; return events, RTF, largest backlog, first partial latencies."""
    done, charged, backlog = 0.0, 0.0, 0.0
    events: list[Any] = []
    first_partial: dict[int, float] = {}
    for at in range(0, len(audio), BLOCK):
        arrival = min(at + BLOCK, len(audio)) / RATE
        before, charged_before = rec.free, rec.charged
        t0 = time.perf_counter()
        new = pipeline.accept(audio[at : at + BLOCK])
        if at + BLOCK >= len(audio):
            new += pipeline.finish()
        charge = time.perf_counter() - t0 - (rec.free - before) + (rec.charged - charged_before)
        done = max(done, arrival) + charge
        charged += charge
        backlog = max(backlog, done - arrival)
        for e in new:
            meter.add(done, e)
            if e.kind == "partial" and e.tokens:
                u = meter._utterance(e.tokens[0].start)
                if u >= 0:
                    first_partial.setdefault(u, done - meter.starts[u])
        events += new
    return {"events": events, "rtf": charged / (len(audio) / RATE), "max_backlog_s": backlog,
            "first_partial": list(first_partial.values())}


def _overlaps(event: Any, span: tuple[int, int, str]) -> bool:
    return event.start_sample < span[1] and event.end_sample > span[0]


def score(events: list[Any], spans: list[tuple[int, int, str]], whole: list[Any], dictionary: list[str],
          audio: np.ndarray, rec: Any, check_exact: bool) -> dict[str, Any]:
    """Own segments, finals vs predict on the whole utterance and vs the dictionary; finals == predict on segment."""
    finals = [e for e in events if e.kind == "final"]
    spoken = [e for e in finals if e.tokens]
    own = same_whole = same_label = same_dict = 0
    misses: list[str] = []
    for i, span in enumerate(spans):
        hits = [e for e in spoken if _overlaps(e, span)]
        if len(hits) == 1 and not any(_overlaps(hits[0], other) for other in spans if other is not span):
            own += 1
            same_whole += hits[0].text == whole[i].text
            same_label += hits[0].label == whole[i].label
            same_dict += hits[0].text == dictionary[i]
            if hits[0].text != whole[i].text:
                misses.append(f"{hits[0].text!r} vs {whole[i].text!r}")
    exact = None
    if check_exact:
        exact = sum(rec.predict(audio[e.start_sample : e.end_sample], RATE).text == e.text for e in finals)
    return {"finals": len(finals), "own_segment": own, "final_equals_whole": same_whole,
            "label_equals_whole": same_label, "final_equals_dictionary": same_dict,
            "whole_equals_dictionary": sum(w.text == d for w, d in zip(whole, dictionary)),
            "finals_equal_predict_on_segment": exact, "differences_from_whole": misses[:8]}


def pct(values: list[float]) -> dict[str, Any]:
    """p50/p90 (None when empty)."""
    if not values:
        return {"p50": None, "p90": None, "n": 0}
    return {"p50": float(np.percentile(values, 50)), "p90": float(np.percentile(values, 90)), "n": len(values)}


def one(name: str, make: Any, answers: Any, table: dict[str, list[float]], audio: np.ndarray, spans: list,
        whole: list[Any], dictionary: list[str], exact: bool) -> dict[str, Any]:
    """One pipeline on the clock, scored."""
    rec = CostedRecognizer(answers, table)
    meter = LatencyMeter(speech_spans(audio, spans, -50.0))
    t0 = time.perf_counter()
    clock = run_clock(make(rec), rec, audio, meter)
    figures = meter.figures()
    out = {"name": name, "rtf": clock["rtf"], "max_backlog_s": clock["max_backlog_s"],
           "final_s": figures["final_s"], "first_partial_s": pct(clock["first_partial"]),
           "partials": sum(e.kind == "partial" for e in clock["events"]),
           **score(clock["events"], spans, whole, dictionary, audio, answers, exact),
           "model_s": rec.charged, "model_calls": rec.calls, "run_s": time.perf_counter() - t0}
    log(f"{name}: RTF {out['rtf']:.3f}, final p50/p90 {out['final_s']['p50']:.2f}/{out['final_s']['p90']:.2f}, "
        f"first partial p50 {out['first_partial_s']['p50']}, own {out['own_segment']}/{len(spans)}, "
        f"= whole {out['final_equals_whole']} (label {out['label_equals_whole']}), "
        f"= dictionary {out['final_equals_dictionary']}, "
        f"exact {out['finals_equal_predict_on_segment']} ({out['run_s']:.0f} s)")
    return out


SWEEP: list[dict[str, Any]] = [
    {"detector": "energy"},
    {"partials": False},
    {"endpoint_silence_s": 0.2},
    {"endpoint_silence_s": 0.3},
    {"pre_speech_s": 0.3},
    {"post_speech_s": 0.05},
    {"post_speech_s": 0.2},
    {"hop_s": 0.3},
    {"hop_s": 0.8},
    {"first_partial_s": 0.2},
    {"first_partial_s": 0.3},
    {"first_partial_s": None},
    {"right_s": 0.1},
]


def markdown(results: dict[str, Any]) -> str:
    """The RESULTS.md section."""
    rows = results["runs"]
    n = results["utterances"]

    def lat(d: dict[str, Any]) -> str:
        return "no partials" if d["p50"] is None else f"{d['p50']:.2f} / {d['p90']:.2f}"

    title = "Live audio settings sweep" if results.get("sweep") else "Live audio against VAD + offline decoding"
    lines = [
        f"## {title}", "",
        f"`{results.get('command', 'python -m benchmarks.live_audio.live_vs_vad')}` ({results['date']}, CPU: "
        f"{results['cpu']}, {results['threads']} threads, load average at start {results['load_average']}; a shared "
        f"VM: compare rows of this table with each other, not with other runs). The {n} FSDD test utterances in one "
        f"{results['audio_s']:.0f} s stream ({results['speech_share']:.0%} of its 20 ms frames above -50 dBFS), "
        "0.6-1.5 s pauses, 100 ms blocks, on the virtual clock of benchmarks/live_audio/streaming.py: "
        "each model call charged the "
        f"time the xlsr-53-size int8 bundle (`{results['speed_bundle']}`) takes for its length ("
        + _table(results["cost_table"]) + f"; measured {results['cost_table'].get('measured', '')}), plus each "
        "pipeline's "
        "own measured work; text from the reference int8 bundle. VAD + offline: Silero VAD (threshold 0.5, "
        "0.25 s of silence closes, segments with under 0.25 s of speech dropped, 64 ms kept before), each segment "
        "decoded offline. "
        "phonedge: `rec.stream()` defaults (" + results["defaults"] + ") and single changes of them.", "",
        "| Pipeline | final after end of speech p50 / p90 s | RTF (model only) | first partial p50 / p90 s "
        "| own segment | final text (label) = `predict` on the whole utterance | final = dictionary "
        "| finals = `predict` on segment |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        same = r["finals_equal_predict_on_segment"]
        exact = "" if same is None else f"{same}/{r['finals']}"
        lines.append(
            f"| {r['name']} | {lat(r['final_s'])} | {r['rtf']:.3f} ({r['model_s'] / results['audio_s']:.3f}) | "
            f"{lat(r['first_partial_s'])} | "
            f"{r['own_segment']}/{n} | {r['final_equals_whole']}/{n} ({r['label_equals_whole']}/{n}) | "
            f"{r['final_equals_dictionary']}/{n} | {exact} |")
    backlog = ", ".join(f"{r['name']} {r['max_backlog_s']:.2f} s" for r in rows)
    agree = rows[0]["whole_equals_dictionary"]
    lines += ["", "RTF: all compute charged on the clock per second of audio; in brackets, the model's share (the cost "
              "table's time for every model call). The rest is each pipeline's own measured work (Silero VAD on every "
              "32 ms chunk, numpy), slowed by the shared VM's load as the model's table is not."]
    lines += ["", f"`predict` on the whole utterances equals the dictionary on {agree}/{n}. "
              f"Largest backlog on the clock: {backlog}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run both pipelines (and the sweep when asked); write the JSON and the RESULTS.md section."""
    import phonedge

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=REPO / "bundles" / "reference-int8")
    parser.add_argument("--speed-bundle", type=Path,
                        default=REPO / "benchmarks" / ".cache" / "xlsr53" / "bundle-int8-labels")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="Timings per length in the cost table (minimum kept).")
    parser.add_argument("--cost-from", type=Path, default=None, metavar="JSON",
                        help="Take the cost table from this JSON (length_s, window_logits, logits, measured) instead "
                             "of measuring it (a table measured when the machine was quiet).")
    parser.add_argument("--sweep", action="store_true", help="Also run single changes of the stream's defaults.")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON written (default: benchmarks/results/live_vs_vad[_sweep].json).")
    parser.add_argument("--results-md", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    parser.add_argument("--from-json", type=Path, default=None, metavar="JSON",
                        help="Only render the section from an earlier run's JSON, then stop.")
    args = parser.parse_args()
    if args.from_json is not None:
        _write_sections(json.loads(args.from_json.read_text(encoding="utf-8")), args.results_md)
        return
    out = args.out or REPO / "benchmarks" / "results" / f"live_vs_vad{'_sweep' if args.sweep else ''}.json"

    answers = phonedge.load(args.bundle, threads=args.threads)
    if args.cost_from is not None:
        table = json.loads(args.cost_from.read_text(encoding="utf-8"))
        args.speed_bundle = Path(table.get("bundle", args.speed_bundle))
    else:
        table = cost_table(phonedge.load(args.speed_bundle, threads=args.threads), args.repeats)
        table["measured"] = f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {load_average()}"
    audio, spans, dictionary = build_audio()
    whole = [answers.predict(audio[a:b], RATE) for a, b, _ in spans]
    from phonedge.speech import frame_energy_db

    frames = (len(audio) - 400) // 320 + 1
    share = float(np.mean(frame_energy_db(audio, frames, 320, 400) >= -50.0))
    defaults = phonedge.StreamOptions()
    probe = answers.stream()
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_line(), "threads": args.threads,
        "load_average": load_average(), "bundle": str(args.bundle), "speed_bundle": str(args.speed_bundle),
        "audio_s": len(audio) / RATE, "utterances": len(spans), "speech_share": share, "sweep": args.sweep,
        "defaults": f"{probe.detector} detector, {defaults.endpoint_silence_s} s silence closes, "
                    f"{defaults.pre_speech_s} / {defaults.post_speech_s} s kept before / after the speech, partial "
                    f"windows {defaults.left_s} + {defaults.hop_s} + {defaults.right_s} s",
        "cost_table": table, "repeats": args.repeats, "runs": [],
        "command": "python -m benchmarks.live_audio.live_vs_vad" + (" --sweep" if args.sweep else "")
                   + (f" --cost-from {args.cost_from}" if args.cost_from else ""),
    }
    stream_of = lambda opts: (lambda rec: phonedge.Stream(rec, opts))  # noqa: E731
    results["runs"].append(one("VAD + offline", VadOffline, answers, table, audio, spans, whole, dictionary, False))
    results["runs"].append(one("phonedge defaults", stream_of(defaults), answers, table, audio, spans, whole,
                               dictionary, True))
    if args.sweep:
        for change in SWEEP:
            name = "phonedge " + ", ".join(f"{k}={v}" for k, v in change.items())
            results["runs"].append(one(name, stream_of(defaults.replace(**change)), answers, table, audio, spans,
                                       whole, dictionary, False))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    _write_sections(results, args.results_md)
    log(f"wrote {out} and the {_section(args.sweep)} section of {args.results_md}")


def _table(table: dict[str, list[float]]) -> str:
    shown = (0.2, 0.6, 1.0, 1.5, 2.0)
    return ", ".join(f"{n} s: {f:.3f} s" for n, f in zip(table["length_s"], table["logits"]) if n in shown)


def _write_sections(results: dict[str, Any], path: Path) -> None:
    """The side-by-side section (a sweep's first two rows) and, for a sweep, the sweep's."""
    sections.write(_section(False), markdown({**results, "sweep": False, "runs": results["runs"][:2]}), path)
    if results["sweep"]:
        sections.write(_section(True), markdown(results), path)


def _section(sweep: bool) -> str:
    return "live-vs-vad-sweep" if sweep else "live-vs-vad"


if __name__ == "__main__":
    main()

"""The GPU table of issue #14 in one command: PyTorch eager vs phonedge fp16 bundles on one GPU.

``python -m benchmarks.platforms.gpu --out DIR`` builds the random-weight xlsr-53-size checkpoint, exports
two fp16 bundles for the CUDA provider, ``--target cuda`` (its default: no attention mask, so
flash attention, and the waveform normalised inside the graph) and ``--target cuda
--attention-mask`` (padded batches of unequal lengths), and measures on the same GPU, one
utterance per call at 1/3/10/30 s (median of 10 after warm-up) and as 16 x 10 s batches:
PyTorch fp32 eager, PyTorch fp16 eager with SDPA attention, each bundle through
``phonedge.load(..., provider="cuda")`` (``Recognizer.logits`` and its batching: what users call)
and the same bundle's bare ``session.run`` on prepared feeds (the graph alone; the difference is
phonedge's host overhead). Both sides copy the waveform to the device and the logits back each
call. A batch of 16 unequal lengths (5-10 s) shows what the mask buys. It also checks where ONNX
Runtime placed every node (no CPU fallbacks, no Memcpy), the one-pass length the GPU holds (60 and
120 s), and that the reference model's bundles on the GPU give the same transcripts as fp32 on the
CPU on reference/eval.tsv, one by one and in padded batches.

Every step is guarded: a failing step is recorded (its error in the JSON) and the others still run;
results are rewritten to DIR/gpu.json and DIR/gpu.md after each step. Optional variants (the
CPU-form fp16 export) run last, only when asked (``--variants``) and while the time budget lasts.
``--quick`` runs the same steps on a toy model with short inputs (a CPU dry run with
``--provider cpu``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmarks.common.paths import REPO
from benchmarks.common.workloads import time_calls

REFERENCE = REPO / "reference"
RATE = 16_000
FULL = {"lengths": [1, 3, 10, 30], "reps": 10, "warmup": 3, "batch": (16, 10), "mixed": (5, 10),
        "one_pass": [60, 120], "eval": None}
QUICK = {"lengths": [1, 3], "reps": 3, "warmup": 1, "batch": (4, 2), "mixed": (1, 2), "one_pass": [6], "eval": 12}
MAIN = "fp16 --target cuda"
MASKED = "fp16 --target cuda --attention-mask"


def _say(message: str) -> None:
    print(f"[gpu {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Results:
    """The run's record, rewritten to disk after every step."""

    def __init__(self, out: Path, started: float, budget_s: float) -> None:
        self.out, self.started, self.budget_s = out, started, budget_s
        self.data: dict[str, Any] = {"steps": {}, "latency_ms": {}, "batch": {}, "mixed_batch": {}, "one_pass": {},
                                     "placement": {}, "exports": {}, "eval": {}}
        out.mkdir(parents=True, exist_ok=True)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float:
        return self.budget_s - self.elapsed()

    def step(self, name: str, fn: Callable[[], Any]) -> Any:
        """Run FN as step NAME: record its time and error, never raise."""
        _say(f"{name} ...")
        t0 = time.perf_counter()
        try:
            value = fn()
            self.data["steps"][name] = {"ok": True, "seconds": round(time.perf_counter() - t0, 2)}
            _say(f"{name} done in {time.perf_counter() - t0:.1f} s")
            return value
        except BaseException as exc:  # noqa: BLE001 - a step's failure must not stop the others
            if isinstance(exc, KeyboardInterrupt):
                raise
            self.data["steps"][name] = {"ok": False, "seconds": round(time.perf_counter() - t0, 2),
                                        "error": f"{type(exc).__name__}: {exc}"[:2000],
                                        "traceback": traceback.format_exc()[-4000:]}
            _say(f"{name} FAILED: {type(exc).__name__}: {str(exc)[:300]}")
            return None
        finally:
            self.save()

    def save(self) -> None:
        self.data["elapsed_s"] = round(self.elapsed(), 1)
        (self.out / "gpu.json").write_text(json.dumps(self.data, indent=2, default=str) + "\n", encoding="utf-8")
        (self.out / "gpu.md").write_text(markdown(self.data), encoding="utf-8")


def median_ms(fn: Callable[[], Any], reps: int, warmup: int) -> dict[str, float]:
    """Median, min and max wall time of FN in ms over REPS calls after WARMUP calls."""
    times = [t * 1e3 for t in time_calls(fn, warmup, reps)]
    return {"median": round(statistics.median(times), 3), "min": round(min(times), 3), "max": round(max(times), 3)}


def waveform(seconds: float, seed: int = 0) -> np.ndarray:
    """Deterministic noise-like test audio (the weights are random, so content does not matter)."""
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal(int(seconds * RATE))).astype(np.float32)


# -- environment ----------------------------------------------------------------------------------


def environment(provider: str) -> dict[str, Any]:
    import onnxruntime as ort
    import torch

    env = {
        "python": sys.version.split()[0],
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "onnxruntime": ort.__version__,
        "ort_providers": ort.get_available_providers(),
        "torch": torch.__version__,
        "provider": provider,
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
        env["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    try:
        import transformers

        env["transformers"] = transformers.__version__
    except ImportError:
        pass
    return env


# -- PyTorch eager ----------------------------------------------------------------------------------


def torch_eager(checkpoint: Path, device: str, half: bool, cfg: dict[str, Any], results: Results, name: str) -> None:
    """Latency per length and batch throughput of the PyTorch model (SDPA attention), copies included."""
    import torch
    from transformers import Wav2Vec2ForCTC

    dtype = torch.float16 if half else torch.float32
    model = Wav2Vec2ForCTC.from_pretrained(str(checkpoint), attn_implementation="sdpa", dtype=dtype)
    model = model.to(device).eval()

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def call(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(device=device, dtype=dtype)
            out = model(x).logits.float().cpu().numpy()
        sync()
        return out

    for seconds in cfg["lengths"]:
        x = waveform(seconds)[None]
        results.data["latency_ms"].setdefault(name, {})[str(seconds)] = median_ms(
            partial(call, x), cfg["reps"], cfg["warmup"])
        results.save()
    n, seconds = cfg["batch"]
    if half:  # fp32 eager batches are not part of the table
        batch = np.stack([waveform(seconds, seed) for seed in range(n)])
        results.data["batch"][name] = _batch_record(median_ms(partial(call, batch), cfg["reps"], cfg["warmup"]),
                                                    n, seconds)
    model = None  # drop the weights (on CUDA: before emptying the cache)
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def _batch_record(timing: dict[str, float], n: int, seconds: float) -> dict[str, Any]:
    return {**timing, "items": n, "seconds_each": seconds,
            "audio_s_per_s": round(n * seconds / (timing["median"] / 1e3), 1)}


# -- phonedge -------------------------------------------------------------------------------------


def export(checkpoint: Path, out: Path, results: Results, name: str, **options: Any) -> Path:
    """Export CHECKPOINT to bundle OUT (fp16 unless told), recording its options, parity and time."""
    from phonedge_export import export_bundle

    options.setdefault("quantize", "fp16")
    # The parity figures are recorded (and shown) but do not stop the run: a missed threshold on a
    # random-weight model must not leave the GPU table empty.
    options.setdefault("gate", False)
    t0 = time.perf_counter()
    manifest = export_bundle(checkpoint, out, overwrite=True, progress=lambda m: _say(f"  {name}: {m}"), **options)
    results.data["exports"][name] = {
        "options": options, "seconds": round(time.perf_counter() - t0, 1),
        "size_mb": round(manifest.graph.size_bytes / 1e6, 1), "quantization": manifest.graph.quantization,
        "parity": {k: manifest.parity.get(k) for k in ("max_abs_logit_diff", "frame_argmax_agreement",
                                                      "transcript_agreement", "padded_batch", "passed")},
    }
    return out


def phonedge_timing(bundle: Path, provider: str, cfg: dict[str, Any], results: Results, name: str,
                    cross_check: bool = True) -> None:
    """Latency per length (``Recognizer.logits``: normalise + graph) and padded-batch throughput."""
    import phonedge

    rec = phonedge.load(bundle, provider=provider)
    results.data.setdefault("chunking", {})[name] = rec.chunking.chunk_s
    for seconds in cfg["lengths"]:
        x = waveform(seconds)
        results.data["latency_ms"].setdefault(name, {})[str(seconds)] = median_ms(
            partial(rec.logits, x), cfg["reps"], cfg["warmup"])
        results.save()
    n, seconds = cfg["batch"]
    items = [waveform(seconds, seed) for seed in range(n)]
    # The recogniser's own batching (padded and masked when the graph takes a mask), logits only.
    timing = median_ms(lambda: rec._batched_logits(items, n), cfg["reps"], cfg["warmup"])  # noqa: SLF001
    results.data["batch"][name] = _batch_record(timing, n, seconds)
    # Unequal lengths: one padded, masked call with a mask; calls per length without one.
    low, high = cfg["mixed"]
    mixed = [waveform(low + (high - low) * k / (n - 1), seed) for k, seed in enumerate(range(n))]
    timing = median_ms(lambda: rec._batched_logits(mixed, n), cfg["reps"], cfg["warmup"])  # noqa: SLF001
    audio_s = sum(map(len, mixed)) / RATE
    results.data["mixed_batch"][name] = {**timing, "items": n, "seconds": [low, high],
                                         "audio_s_per_s": round(audio_s / (timing["median"] / 1e3), 1)}
    raw_timing(rec, cfg, results, name.replace("phonedge", "raw session.run"))
    # A padded pair (the second item 30% shorter) against single calls: padding must not change logits.
    pair = [items[0], items[1][: int(len(items[1]) * 0.7)]]
    single = [rec.logits(x) for x in pair]
    batched = rec._batched_logits(pair, 2)  # noqa: SLF001
    results.data["batch"][name]["padded_pair_vs_single_max_abs_diff"] = float(
        max(np.abs(a - b).max() for a, b in zip(single, batched)))
    results.data["batch"][name]["pair_padded"] = rec.manifest.has_attention_mask  # else run one by one
    if provider != "cpu" and cross_check:
        # The same bundle on the CPU provider: the GPU kernels (fused attention above all) must agree.
        x = waveform(cfg["lengths"][1], seed=7)
        cpu = phonedge.load(bundle, provider="cpu").logits(x)
        got = rec.logits(x)
        results.data["batch"][name]["gpu_vs_cpu"] = {
            "seconds": cfg["lengths"][1], "max_abs_logit_diff": float(np.abs(got - cpu).max()),
            "frame_argmax_agreement": float((got.argmax(-1) == cpu.argmax(-1)).mean())}


def raw_timing(rec: Any, cfg: dict[str, Any], results: Results, name: str) -> None:
    """The bundle's graph alone: ``session.run`` on feeds built once (the waveform as the graph takes
    it, an all-ones mask where it takes one), host copies in and out included, no phonedge code."""
    session = rec._session  # noqa: SLF001

    def feeds(batch: np.ndarray) -> dict[str, np.ndarray]:
        out = {"input_values": batch}
        if "attention_mask" in rec.input_names:
            out["attention_mask"] = np.ones(batch.shape, dtype=np.int64)
        return out

    for seconds in cfg["lengths"]:
        f = feeds(waveform(seconds)[None])
        results.data["latency_ms"].setdefault(name, {})[str(seconds)] = median_ms(
            partial(session.run, None, f), cfg["reps"], cfg["warmup"])
    n, seconds = cfg["batch"]
    f = feeds(np.stack([waveform(seconds, seed) for seed in range(n)]))
    results.data["batch"][name] = _batch_record(median_ms(lambda: session.run(None, f), cfg["reps"], cfg["warmup"]),
                                                n, seconds)
    results.save()


def one_pass(bundle: Path, provider: str, cfg: dict[str, Any], results: Results, name: str) -> None:
    """Time and device memory of single passes over long audio (the GPU chunk plan's bound)."""
    import phonedge

    rec = phonedge.load(bundle, provider=provider, chunking=phonedge.ChunkPlan(chunk_s=10_000.0))
    for seconds in cfg["one_pass"]:
        x = waveform(seconds)
        t0 = time.perf_counter()
        rec.logits(x)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        rec.logits(x)
        record = {"first_ms": round(first * 1e3, 1), "second_ms": round((time.perf_counter() - t0) * 1e3, 1)}
        record.update(_device_memory())
        results.data["one_pass"].setdefault(name, {})[str(seconds)] = record
        results.save()


def _device_memory() -> dict[str, Any]:
    try:
        import torch

        if torch.cuda.is_available():
            free, total = torch.cuda.mem_get_info()
            return {"device_used_gib": round((total - free) / 2**30, 2), "device_total_gib": round(total / 2**30, 1)}
    except Exception:  # noqa: BLE001 - memory figures are optional
        pass
    return {}


def placement(bundle: Path, provider: str, results: Results, name: str, seconds: float = 10.0) -> None:
    """Where ONNX Runtime ran each node of BUNDLE's graph under PROVIDER (from its profile)."""
    from phonedge.manifest import read_manifest
    from phonedge.session import PROVIDERS, _provider_chain  # noqa: PLC2701
    import onnxruntime as ort
    from phonedge_export.cuda_graph import profile_placement

    manifest = read_manifest(bundle)
    x = waveform(seconds)[None]
    feeds: dict[str, Any] = {"input_values": x}
    if manifest.has_attention_mask:
        feeds["attention_mask"] = np.ones(x.shape, dtype=np.int64)
    chain = _provider_chain(provider, ort.get_available_providers())
    with tempfile.TemporaryDirectory() as work:
        report = profile_placement(bundle / manifest.graph.file, feeds, chain, Path(work))
    report["checked_provider"] = PROVIDERS[provider]
    ops: dict[str, int] = {}
    for node in report["cpu_fallbacks"]:
        ops[node["op"]] = ops.get(node["op"], 0) + 1
    report["cpu_fallback_count"], report["cpu_fallback_ops"] = len(report["cpu_fallbacks"]), ops
    report["cpu_fallbacks"] = report["cpu_fallbacks"][:60]
    results.data["placement"][name] = report


# -- reference eval -------------------------------------------------------------------------------


def reference_eval(provider: str, work: Path, cfg: dict[str, Any], results: Results) -> None:
    """Transcripts and accuracy of the reference model's bundles on PROVIDER vs float32 on the CPU."""
    import phonedge
    from phonedge.evaluate import read_eval_list
    from phonedge_export import export_bundle

    items = read_eval_list(REFERENCE / "eval.tsv")
    if cfg["eval"]:
        items = items[: cfg["eval"]]
    # Generated signals for the export's own parity gate (quicker); the eval below is the real check.
    common = {"labels": REFERENCE / "labels.tsv", "overwrite": True, "gate": False}
    forms = {
        "fp32 (cpu form)": {"quantize": "none"},
        MAIN: {"quantize": "fp16", "target": "cuda"},
        "fp32 --target cuda": {"quantize": "none", "target": "cuda"},
        MASKED: {"quantize": "fp16", "target": "cuda", "with_attention_mask": True},
    }
    bundles = {}
    for index, (name, options) in enumerate(forms.items()):
        bundles[name] = work / f"ref-{index}"
        export_bundle(REFERENCE / "model", bundles[name], **common, **options)
    audio, reader = _eval_audio(items)
    results.data["eval_audio_reader"] = reader
    runs = [("fp32 (cpu form)", "cpu")] + [(name, provider) for name in bundles]
    baseline: list[tuple[str, Any]] | None = None
    for name, run_provider in runs:
        rec = phonedge.load(bundles[name], provider=run_provider)
        preds = [rec.predict(x, sample_rate=rate) if reader != "soundfile" else rec.predict(x)
                 for x, rate in audio]
        got = [(p.text, p.label) for p in preds]
        correct = sum(p.label == i.label for p, i in zip(preds, items))
        record = {"n": len(items), "accuracy": round(correct / len(items), 4)}
        # predict_batch: padded, masked batches (masked graphs) or equal-length ones; same results?
        rates = {rate for _, rate in audio}
        batch = rec.predict_batch([x for x, _ in audio], sample_rate=rates.pop() if len(rates) == 1 else None,
                                  batch_size=16)
        record["predict_batch_same_transcripts"] = sum(a.text == b[0] for a, b in zip(batch, got))
        if baseline is None:
            baseline = got
        else:
            record["same_transcripts_as_cpu_fp32"] = sum(a[0] == b[0] for a, b in zip(got, baseline))
            record["same_labels_as_cpu_fp32"] = sum(a[1] == b[1] for a, b in zip(got, baseline))
        key = f"{name} on {run_provider}" if baseline is not got else f"baseline: {name} on {run_provider}"
        results.data["eval"][key] = record
        results.save()


def _eval_audio(items: list[Any]) -> tuple[list[tuple[Any, int | None]], str]:
    """The eval items as paths (read by phonedge through soundfile) or, where soundfile cannot be
    imported (the GPU machine may lack cffi), as arrays read with the stdlib's PCM wave reader."""
    try:
        import soundfile  # noqa: F401

        return [(item.path, None) for item in items], "soundfile"
    except Exception as exc:  # noqa: BLE001 - any import failure: fall back
        reason = f"wave (soundfile unavailable: {type(exc).__name__}: {exc})"
    import wave

    audio = []
    for item in items:
        with wave.open(str(item.path), "rb") as f:
            if f.getsampwidth() != 2:
                raise ValueError(f"{item.path}: only 16-bit PCM can be read without soundfile")
            pcm = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2").reshape(-1, f.getnchannels())
            audio.append(((pcm.astype(np.float32) / 32768.0), f.getframerate()))
    return audio, reason[:300]


# -- report ---------------------------------------------------------------------------------------


def markdown(data: dict[str, Any]) -> str:
    """The results as a markdown table plus the checks."""
    env = data.get("environment", {})
    lines = [f"# GPU benchmark ({env.get('gpu', env.get('provider', '?'))}, onnxruntime {env.get('onnxruntime', '?')}, "
             f"torch {env.get('torch', '?')})", ""]
    lengths = sorted({float(s) for rows in data["latency_ms"].values() for s in rows}, key=float)
    header = [f"{s:g} s" for s in lengths]
    batch_head = next((f"{b['items']} × {b['seconds_each']:g} s batch" for b in data["batch"].values()), "batch")
    lines += ["| median ms | " + " | ".join(header) + f" | {batch_head} |", "|---|" + "---:|" * (len(header) + 1)]
    for name, rows in data["latency_ms"].items():
        cells = [f"{rows[k]['median']:.1f}" if (k := _key(rows, s)) else "—" for s in lengths]
        batch = data["batch"].get(name)
        cells.append(f"{batch['median']:.1f}" if batch else "—")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if data["exports"]:
        lines += ["", "## Exports (parity against PyTorch fp32 on the CPU, generated signals)", ""]
        for name, rec in data["exports"].items():
            parity = rec["parity"]
            lines.append(f"- {name}: {rec['seconds']} s, {rec['size_mb']} MB, parity passed={parity['passed']}, "
                         f"frames {parity['frame_argmax_agreement']}, max |dlogit| {parity['max_abs_logit_diff']:.3g}")
    if data["placement"]:
        lines += ["", "## Node placement", ""]
        for name, rep in data["placement"].items():
            lines.append(f"- {name}: clean={rep['clean']}, providers {rep['providers']}, memcpy {len(rep['memcpy'])}, "
                         f"CPU fallbacks {rep['cpu_fallback_count']} {rep['cpu_fallback_ops']}, CPU shape nodes "
                         f"{rep['cpu_shape_nodes']}")
    if data.get("mixed_batch"):
        lines += ["", "## Batch of unequal lengths (Recognizer batching)", ""]
        lines += [f"- {name}: {rec['items']} items of {rec['seconds'][0]}-{rec['seconds'][1]} s: median "
                  f"{rec['median']:.1f} ms, {rec['audio_s_per_s']} audio s/s"
                  for name, rec in data["mixed_batch"].items()]
    if data["one_pass"]:
        lines += ["", "## One pass over long audio", ""]
        for name, rows in data["one_pass"].items():
            lines.append(f"- {name}: " + "; ".join(f"{s} s: {r}" for s, r in rows.items()))
    if data["eval"]:
        lines += ["", "## Reference eval (reference/eval.tsv)", ""]
        lines += [f"- {name}: {rec}" for name, rec in data["eval"].items()]
    failed = {k: v["error"] for k, v in data["steps"].items() if not v["ok"]}
    lines += ["", f"Steps: {len(data['steps'])}, failed: {len(failed)}; elapsed {data.get('elapsed_s')} s"]
    lines += [f"- FAILED {k}: {v}" for k, v in failed.items()]
    return "\n".join(lines) + "\n"


def _key(rows: dict[str, Any], seconds: float) -> str | None:
    return next((k for k in rows if float(k) == seconds), None)


# -- main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for gpu.json, gpu.md and the bundles")
    parser.add_argument("--cache", type=Path, default=None, help="checkpoint cache [default: OUT/../gpu-cache]")
    parser.add_argument("--provider", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--quick", action="store_true", help="toy model, short inputs (a dry run)")
    parser.add_argument("--variants", type=int, default=0, help="optional variants to run at most (0: none)")
    parser.add_argument("--budget-s", type=float, default=260.0, help="skip optional variants after this many seconds")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    cfg = QUICK if args.quick else FULL
    results = Results(args.out, started, args.budget_s)
    device = "cuda" if args.provider == "cuda" else "cpu"
    work = Path(tempfile.mkdtemp(prefix="phonedge-gpu-"))
    cache = args.cache or args.out.parent / "gpu-cache"
    results.data["config"] = {**cfg, "quick": args.quick, "work": str(work)}
    results.data["environment"] = results.step("environment", lambda: environment(args.provider))

    from benchmarks.common.xlsr53 import TINY_ARCHITECTURE, ensure_checkpoint, ensure_xlsr53

    checkpoint = results.step("checkpoint", lambda: ensure_checkpoint(cache / "tiny-random", TINY_ARCHITECTURE)
                              if args.quick else ensure_xlsr53(cache))
    if checkpoint is None:
        return 1
    bundles: dict[str, Path] = {}

    def bundle_steps(name: str, **options: Any) -> None:
        bundle = results.step(f"export {name}", lambda: export(checkpoint, work / name.replace(" ", "_"), results,
                                                               name, target="cuda", **options))
        if bundle:
            bundles[name] = bundle
            results.step(f"placement {name}", lambda: placement(bundle, args.provider, results, name))
            results.step(f"phonedge {name}", lambda: phonedge_timing(
                bundle, args.provider, cfg, results, f"phonedge {name}", cross_check=name == MAIN))

    bundle_steps(MAIN)
    results.step("torch fp16 eager", lambda: torch_eager(checkpoint, device, True, cfg, results,
                                                         "PyTorch fp16 eager (SDPA)"))
    bundle_steps(MASKED, with_attention_mask=True)
    results.step("torch fp32 eager", lambda: torch_eager(checkpoint, device, False, cfg, results, "PyTorch fp32 eager"))
    results.step("reference eval", lambda: reference_eval(args.provider, work, cfg, results))
    if MAIN in bundles:
        results.step(f"one pass {MAIN}", lambda: one_pass(bundles[MAIN], args.provider, cfg, results, MAIN))
    variants = [("fp16 default form (--encoder-piece-frames 0)", {"encoder_piece_frames": 0})]
    for name, options in variants[: max(args.variants, 0)]:
        if results.left() < 75:
            results.data["steps"][f"variant {name}"] = {"ok": False, "seconds": 0, "error": "skipped: time budget"}
            results.save()
            continue
        bundle = results.step(f"export {name}", partial(export, checkpoint, work / name.replace(" ", "_"), results,
                                                        name, **options))
        if bundle:
            results.step(f"phonedge {name}", partial(phonedge_timing, bundle, args.provider, cfg, results,
                                                     f"phonedge {name}", cross_check=False))
    results.save()
    _say(f"finished in {results.elapsed():.0f} s; results in {args.out}")
    print((args.out / "gpu.md").read_text(encoding="utf-8"), flush=True)
    return 0 if all(step["ok"] for step in results.data["steps"].values()) else 2


if __name__ == "__main__":
    raise SystemExit(main())

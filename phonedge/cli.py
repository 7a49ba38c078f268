"""The ``phonedge`` command line: each command parses, calls the library and formats its answer."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn, Optional

import click

from ._version import __version__
from .cli_inputs import InputRun, expand_inputs
from .decide import CLASSIFY_METHODS
from .deprecation import renamed_note
from .errors import PhonedgeError
from .result import label_text
from .extras import EXPORT_INSTALL_HINT, is_export_module
from .session import PROVIDERS

ENV_MODEL = "PHONEDGE_MODEL"
# The bundle that `make demo` builds from the committed reference model, in a source checkout.
DEMO_BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "reference-int8"


def default_model() -> Optional[str]:
    """``$PHONEDGE_MODEL``, else the demo bundle of a source checkout if it was built."""
    if os.environ.get(ENV_MODEL):
        return os.environ[ENV_MODEL]
    return str(DEMO_BUNDLE) if DEMO_BUNDLE.is_dir() else None


def need_model(model: Optional[str], how: str = "--model BUNDLE") -> str:
    """MODEL, else the one "no model bundle" error, saying HOW this command takes a bundle."""
    if not model:
        raise PhonedgeError(
            f"no model bundle: pass {how} or set {ENV_MODEL} "
            "(make demo builds bundles/reference-int8 from the committed reference model)"
        )
    return model


def _open(model: Optional[str], threads: int, provider: str, reject_threshold: Optional[float] = None,
          closed_set: bool = False, how: str = "--model BUNDLE"):
    from .recognizer import load

    return load(need_model(model, how), provider=provider, threads=threads, reject_threshold=reject_threshold,
                open_set=not closed_set)


def _fail(exc: PhonedgeError, code: int = 2) -> NoReturn:
    click.echo(f"error: {exc}", err=True)
    sys.exit(code)


def _plain(path: Path, pred, timestamps: bool) -> str:
    parts = [str(path), pred.text]
    decision = label_text(pred.label, pred.label_reason)
    if decision is not None:
        parts.append(decision)
    if timestamps:
        parts.append(" ".join(f"{t.text}@{t.start:.2f}-{t.end:.2f}" for t in pred.tokens))
    if pred.alignment is not None:
        parts.append("aligned: " + " ".join(f"{u.text}@{u.start:.2f}-{u.end:.2f}={u.score:.2f}"
                                            if u.score is not None else f"{u.text}@{u.start:.2f}-{u.end:.2f}"
                                            for u in pred.alignment.units))
    return "\t".join(parts)


model_option = click.option(
    "--model", "-m", default=default_model, show_default=f"${ENV_MODEL} or the demo bundle",
    help="Bundle folder written by 'phonedge export'.",
)
threads_option = click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True,
                              help="ONNX Runtime intra-op threads (0: one per core).")
provider_option = click.option("--provider", type=click.Choice(list(PROVIDERS)), default="cpu",
                               show_default=True, help="ONNX Runtime execution provider.")


def open_set_options(command):
    """The open-set overrides: --reject-threshold and --closed-set."""
    command = click.option("--closed-set", is_flag=True,
                           help="Every sound gets a class (no 'none'), as phonedge 0.2 did.")(command)
    return click.option("--reject-threshold", type=float, default=None,
                        help="Open-set threshold on label_score, nats (default: the bundle's).")(command)


def eval_list_option(help: str, required: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--eval-list FILE, its old name --manifest hidden beside it (a note on stderr; both at once: a usage error)."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def merged(*args: Any, eval_list: Optional[str], manifest: Optional[str], **kwargs: Any) -> Any:
            if manifest is not None:
                if eval_list is not None:
                    raise click.UsageError("give --eval-list, or its old name --manifest, not both")
                click.echo(f"note: {renamed_note('--manifest', '--eval-list')}", err=True)
                eval_list = manifest
            if required and eval_list is None:
                raise click.MissingParameter(param_type="option", param_hint="'--eval-list'")
            return command(*args, eval_list=eval_list, **kwargs)

        path = click.Path(dir_okay=False)
        merged = click.option("--manifest", "manifest", default=None, type=path, hidden=True)(merged)
        return click.option("--eval-list", "eval_list", default=None, type=path, help=help)(merged)

    return decorate


classify_option = click.option("--classify", type=click.Choice(list(CLASSIFY_METHODS)), default="ctc",
                               show_default=True, help="Class decision when the bundle has labels.")
align_option = click.option("--align", is_flag=True,
                            help="Also align the decided class's transcript: each phoneme's start, end and score.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="phonedge")
def main() -> None:
    """phonedge: wav2vec2 CTC phoneme models on the edge (ONNX Runtime + numpy)."""


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@model_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--timestamps", is_flag=True, help="Add every token's start/end time and confidence.")
@threads_option
@provider_option
@click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True,
              help="Utterances per ONNX call (results never change with it).")
@classify_option
@align_option
@open_set_options
def predict(inputs: tuple[str, ...], model: Optional[str], as_json: bool, timestamps: bool, threads: int,
            provider: str, batch_size: int, classify: str, align: bool, reject_threshold: Optional[float],
            closed_set: bool) -> None:
    """Transcribe audio FILES, folders of audio, or list files (@list.txt, one path per line)."""
    try:
        rec = _open(model, threads, provider, reject_threshold, closed_set)
    except PhonedgeError as exc:
        _fail(exc)
    paths = list(expand_inputs(inputs))
    if not paths:
        _fail(PhonedgeError("no audio files found in the given inputs"))
    _warn_batching(rec, batch_size)
    with InputRun(len(paths), "predicting") as run:
        for outcome in rec.predict_each(paths, batch_size=batch_size, classify=classify, align=align,
                                        progress=run.progress):
            if outcome.prediction is None:
                run.fail(outcome.input, outcome.error)
            elif as_json:
                click.echo(json.dumps({"path": str(outcome.input), **outcome.prediction.to_dict(timestamps=timestamps)},
                                      ensure_ascii=False))
            else:
                click.echo(_plain(Path(outcome.input), outcome.prediction, timestamps))
    run.exit_if_failed()


def _warn_batching(rec, batch_size: int) -> None:
    from .batch_policy import BatchPolicy

    if batch_size > 1 and rec.batch_policy is BatchPolicy.ONE_BY_ONE:
        click.echo(f"note: --batch-size {batch_size} has no effect on this bundle: its dynamic int8 graph "
                   "scales activations per batch, so utterances run one per call to keep results exact",
                   err=True)


@main.command("eval")
@click.argument("bundle", required=False)
@eval_list_option("The eval list: TSV/CSV with columns path, transcript, label.", required=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table",
              show_default=True)
@click.option("--tradeoff", is_flag=True,
              help="Print in-set rejections, out-of-set acceptances and accuracy for every threshold instead.")
@classify_option
@open_set_options
@threads_option
@provider_option
def eval_command(bundle: Optional[str], eval_list: str, fmt: str, tradeoff: bool, classify: str,
                 reject_threshold: Optional[float], closed_set: bool, threads: int, provider: str) -> None:
    """Score a BUNDLE on labelled recordings (an eval list): the model card's metrics."""
    from .evaluate import evaluate, read_eval_list

    try:
        rec = _open(bundle or default_model(), threads, provider, reject_threshold, closed_set, how="BUNDLE")
        items = read_eval_list(Path(eval_list))
        with InputRun(len(items), "evaluating", bar_from=0) as run:
            report = evaluate(rec, items, classify=classify, progress=run.progress)
    except PhonedgeError as exc:
        _fail(exc)
    if tradeoff:
        rows = report.tradeoff()
        if fmt == "json":
            for row in rows:
                click.echo(json.dumps(row))
        else:
            click.echo(f"{'threshold':>10} {'frr':>7} {'far':>7} {'in-set accuracy':>16}")
            for row in rows:
                click.echo(f"{row['threshold']:10.3f} {row['frr']:7.2%} {row['far']:7.2%} "
                           f"{row['in_set_accuracy']:16.2%}")
    elif fmt == "json":
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False))
    elif fmt == "markdown":
        click.echo(report.format_markdown())
    else:
        click.echo(report.format_table())
    if report.failures:
        sys.exit(1)


@main.command("align")
@click.argument("inputs", nargs=-1)
@model_option
@click.option("--text", default=None, help="Transcript in the model's units, e.g. \"z ih r ow\".")
@click.option("--label", default=None, help="A class label of the bundle: align its transcript.")
@eval_list_option("An eval list (TSV/CSV with columns path, transcript, label): align each row's transcript.")
@click.option("--format", "fmt", type=click.Choice(["json", "ctm", "textgrid"]), default="json", show_default=True)
@click.option("--output", "-o", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Write one file per input here (needed for textgrid); else print to stdout.")
@click.option("--star", is_flag=True, help="Let extra speech before and after the transcript go unaligned.")
@click.option("--no-scores", is_flag=True, help="Times only: skip the per-phoneme GOP scores (faster on long audio).")
@threads_option
@provider_option
def align_command(inputs: tuple[str, ...], model: Optional[str], text: Optional[str], label: Optional[str],
                  eval_list: Optional[str], fmt: str, out_dir: Optional[str], star: bool, no_scores: bool,
                  threads: int, provider: str) -> None:
    """Align a transcript to audio FILES: where each phoneme starts and ends, and how well it was said."""
    from .alignment_formats import to_ctm, to_json, write

    if sum(x is not None for x in (text, label, eval_list)) != 1:
        raise click.UsageError("give exactly one of --text, --label or --eval-list")
    if (eval_list is None) == (not inputs):
        raise click.UsageError("give audio FILES with --text or --label, or --eval-list alone")
    if fmt == "textgrid" and out_dir is None:
        raise click.UsageError("--format textgrid writes files: give --output DIR")
    try:
        rec = _open(model, threads, provider)
        if eval_list is not None:
            from .evaluate import read_eval_list

            jobs = [(item.path, item.transcript or None, None if item.transcript else item.label)
                    for item in read_eval_list(Path(eval_list))]
        else:
            from .alignment import resolve

            resolve(rec, text, label)  # a bad transcript or label fails once, before any audio is read
            jobs = [(p, text, label) for p in expand_inputs(inputs)]
    except PhonedgeError as exc:
        _fail(exc)
    run = InputRun(len(jobs))
    for path, transcript, class_label in jobs:
        with run.isolate(path):
            result = rec.align(path, transcript=transcript, label=class_label, star=star, scores=not no_scores)
            if out_dir is not None:
                write(result, fmt, Path(out_dir), Path(path).stem, str(path))
            else:
                click.echo(to_json(result, str(path)) if fmt == "json" else to_ctm(result, str(path)), nl=fmt == "json")
    run.exit_if_failed()


@main.command("check")
@click.argument("bundle", required=False)
def check_command(bundle: Optional[str]) -> None:
    """Check a BUNDLE's manifest and its ONNX file's size and sha256 (reads the whole file)."""
    from .manifest import read_manifest

    try:
        path = need_model(bundle or default_model(), "BUNDLE")
        graph = read_manifest(Path(path), verify=True).graph
    except PhonedgeError as exc:
        _fail(exc)
    click.echo(f"ok: {path}: {graph.file}, {graph.size_bytes} bytes, sha256 {graph.sha256 or '(not recorded)'}")


# -- phonedge serve (the `serve` extra) -------------------------------------------------------

from .serve.settings import ENV_TOKEN as ENV_SERVE_TOKEN  # noqa: E402  (stdlib only; Starlette loads in the command)


@main.command("serve")
@click.argument("bundle", required=False)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback exposes the service to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Inference threads shared by all clients (0: one per core, at most 4).")
@click.option("--token", envvar=ENV_SERVE_TOKEN, default=None, show_envvar=True,
              help="Require this token (Authorization: Bearer, or ?token= for the page and WebSocket).")
@click.option("--max-body-mb", type=click.FloatRange(min=0, min_open=True), default=50, show_default=True,
              help="Largest request body in MB (413 above it).")
@click.option("--max-streams", type=click.IntRange(min=0), default=16, show_default=True,
              help="WebSocket streams served at once.")
@click.option("--max-stream-seconds", type=click.FloatRange(min=0, min_open=True), default=600, show_default=True,
              help="Audio one stream may send before the server ends it.")
@click.option("--max-audio-seconds", type=click.FloatRange(min=0, min_open=True), default=600, show_default=True,
              help="Audio one upload may hold (413 above it, from the header when it says).")
@click.option("--max-channel-rate", type=click.IntRange(min=1), default=384_000, show_default=True,
              help="Channels x sample rate an upload may have (413 above it).")
@click.option("--max-audio-in-flight-seconds", type=click.FloatRange(min=0, min_open=True), default=2400,
              show_default=True, help="Audio all uploads in progress may hold together (they wait, then 503).")
@click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True,
              help="ONNX Runtime intra-op threads per call (0: the cores shared out between the workers).")
@provider_option
def serve_command(bundle: Optional[str], host: str, port: int, workers: int, token: Optional[str],
                  max_body_mb: float, max_streams: int, max_stream_seconds: float, max_audio_seconds: float,
                  max_channel_rate: int, max_audio_in_flight_seconds: float, threads: int,
                  provider: str) -> None:
    """Serve a BUNDLE over HTTP and WebSocket, with a live microphone page at /."""
    from .serve import ServeSettings, serve

    try:
        settings = ServeSettings(host=host, port=port, workers=workers, threads=threads, token=token,
                                 max_body_bytes=int(max_body_mb * 1_000_000), max_streams=max_streams,
                                 max_stream_seconds=max_stream_seconds, max_audio_seconds=max_audio_seconds,
                                 max_channel_rate=max_channel_rate,
                                 max_audio_in_flight_seconds=max_audio_in_flight_seconds)
        if not settings.is_loopback and settings.token is None:
            click.echo(f"warning: listening on {host} without --token: anyone who reaches it can use it", err=True)
        serve(need_model(bundle or default_model(), "BUNDLE"), settings, provider)
    except PhonedgeError as exc:
        _fail(exc)


# -- live audio: stream (files replayed as if live) and listen (microphone) ----------------------

block_ms_option = click.option("--block-ms", type=click.FloatRange(min=1.0), default=100.0, show_default=True,
                               help="Audio block size fed to the stream (results never depend on it).")


@main.command("stream")
@click.argument("files", nargs=-1, required=True)
@model_option
@block_ms_option
@click.option("--realtime", is_flag=True, help="Feed the audio no faster than it plays.")
@click.option("--json", "as_json", is_flag=True,
              help="Every event (partials too) as one JSON object per line, with emitted_at in audio seconds.")
@open_set_options
@threads_option
@provider_option
def stream_command(files: tuple[str, ...], model: Optional[str], block_ms: float, realtime: bool, as_json: bool,
                   reject_threshold: Optional[float], closed_set: bool, threads: int, provider: str) -> None:
    """Replay audio FILES as a live stream: finals as lines (partials on a terminal line), or JSON events."""
    from .live_input import EventPrinter, replay_file

    try:
        rec = _open(model, threads, provider, reject_threshold, closed_set)
    except PhonedgeError as exc:
        _fail(exc)
    printer = EventPrinter(sys.stdout, as_json, live_line=sys.stdout.isatty())
    paths = list(expand_inputs(files))
    run = InputRun(len(paths))
    for path in paths:
        stream = rec.stream()
        with run.isolate(path, on_error=printer.clear):
            for event in replay_file(stream, path, block_ms, realtime):
                printer.show(event, str(path))
    run.exit_if_failed()


@main.command("listen")
@model_option
@click.option("--device", default=None, help="Input device (index or name; default: the system's).")
@block_ms_option
@click.option("--json", "as_json", is_flag=True, help="Every event as one JSON object per line.")
@open_set_options
@threads_option
@provider_option
def listen_command(model: Optional[str], device: Optional[str], block_ms: float, as_json: bool,
                   reject_threshold: Optional[float], closed_set: bool, threads: int, provider: str) -> None:
    """Transcribe the microphone live until Ctrl-C (needs phonedge[mic])."""
    from .live_input import EventPrinter, listen

    try:
        rec = _open(model, threads, provider, reject_threshold, closed_set)
        listen(rec.stream(), EventPrinter(sys.stdout, as_json, live_line=sys.stdout.isatty()), device, block_ms)
    except PhonedgeError as exc:
        _fail(exc)


# -- phonedge batch: corpus scale (phonedge.batch; pyarrow and ray from extras) ----------------


@main.command("batch")
@click.argument("inputs", nargs=-1, required=True)
@model_option
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder of part files.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["parquet", "jsonl"]), default="parquet", show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Worker processes (local) or actors (ray); 0: cores / threads.")
@click.option("--threads-per-worker", type=click.IntRange(min=0), default=0, show_default=True,
              help="ONNX Runtime threads per worker or actor; 0: cores / workers, 1 when both are 0.")
@click.option("--ray-address", default=None, help="auto or HOST:PORT of a Ray cluster (default: start a local one).")
@click.option("--rows-per-part", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Rows per part file (a part is also committed every minute).")
@classify_option
@align_option
def batch_command(inputs: tuple[str, ...], model: Optional[str], out: str, engine: str, fmt: str, workers: int,
                  threads_per_worker: int, ray_address: Optional[str], rows_per_part: int, classify: str,
                  align: bool) -> None:
    """Transcribe a corpus into a Parquet/JSONL dataset in --out; a rerun resumes where the last one stopped."""
    from .batch import BatchConfig, run_batch

    try:
        model = need_model(model)
    except PhonedgeError as exc:
        _fail(exc)
    paths = [str(p) for p in expand_inputs(inputs)]
    if not paths:
        _fail(PhonedgeError("no audio files found in the given inputs"))
    if ray_address and engine != "ray":
        raise click.UsageError("--ray-address needs --engine ray")
    config = BatchConfig(engine=engine, fmt=fmt, workers=workers, threads=threads_per_worker,
                         ray_address=ray_address, classify=classify, align=align, rows_per_part=rows_per_part)
    run: list[InputRun] = []  # made at the first call, when the plan knows what is left to do

    def progress(plan, n: int) -> None:
        if not run:
            run.append(InputRun(len(plan.todo), "transcribing"))
        run[0].advance(n)

    try:
        summary = run_batch(model, paths, out, config, progress=progress)
    except PhonedgeError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        _fail(PhonedgeError("interrupted: the rows written so far are kept; rerun the same command to resume"), 130)
    finally:
        if run:
            run[0].close()
    click.echo(summary.format(), err=True)
    if summary.failed:
        sys.exit(1)


@main.command("web")
@click.argument("bundle", required=False)
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False), help="The site folder to write.")
@click.option("--web-dir", type=click.Path(file_okay=False), default=None,
              help="phonedge's web/ folder (default: the checkout's).")
@click.option("--overwrite", is_flag=True, help="Replace OUT when it is not empty.")
@click.option("--serve", "serve_port", type=click.IntRange(0, 65535), default=None,
              help="Then serve OUT on 127.0.0.1:PORT with the isolation headers (a local try-out).")
def web_command(bundle: Optional[str], out: str, web_dir: Optional[str], overwrite: bool,
                serve_port: Optional[int]) -> None:
    """Write a static on-device page for BUNDLE: the browser runs the model, the audio stays on the device."""
    from .ondevice import ISOLATION_HEADERS, site_detector, site_server, write_site
    from .vad import VAD_HINT, vad_available

    try:
        bundle = need_model(bundle or default_model(), "BUNDLE")
        site = write_site(Path(bundle), Path(out), web_dir=Path(web_dir) if web_dir else None, overwrite=overwrite)
    except PhonedgeError as exc:
        _fail(exc)
    headers = ", ".join(f"{k}: {v}" for k, v in ISOLATION_HEADERS.items())
    click.echo(f"wrote {site}: serve it from any static host; for several WebAssembly threads send {headers} "
               f"({site}/_headers does on Netlify/Cloudflare)")
    if site_detector(site) == "silero":
        click.echo("speech detector: Silero VAD (its ONNX file and MIT licence are in bundle/)")
    elif vad_available():
        click.echo("note: silero-vad's licence is not the MIT licence phonedge knows, so its model was not copied: "
                   "the page uses the energy detector")
    else:
        click.echo(f"note: silero-vad is not installed, so the page uses the energy detector; for Silero VAD: "
                   f"{VAD_HINT}")
    if serve_port is not None:
        server = site_server(site, port=serve_port)
        click.echo(f"serving http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            server.server_close()


# Only a missing exporter package (a runtime-only install) or a missing package of the export extra may
# stand in for ``phonedge export``; any other ImportError is a bug in the exporter and must surface.
EXPORTER_PACKAGE = "phonedge_export"


def _missing_export_extra(exc: ModuleNotFoundError) -> bool:
    name = exc.name or ""
    return name == EXPORTER_PACKAGE or is_export_module(name)


def _attach_export() -> None:
    try:
        from phonedge_export.cli import export
    except ModuleNotFoundError as exc:
        if not _missing_export_extra(exc):
            raise
        main.add_command(_export_unavailable(exc.name or EXPORTER_PACKAGE))
        return
    main.add_command(export)


def _export_unavailable(missing: str) -> click.Command:
    """A stand-in ``export`` command that says which part of the export extra is missing."""

    @click.command("export", context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
                   add_help_option=False)
    def export() -> None:
        """Export a checkpoint to a bundle (needs the export extra: pip install 'phonedge[export]')."""
        _fail(PhonedgeError(f"phonedge export needs the export extra ({missing} is not installed): "
                            + EXPORT_INSTALL_HINT))

    return export


_attach_export()

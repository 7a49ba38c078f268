"""The ``phonedge export`` command (attach it with ``main.add_command(export)``)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable

import click

from phonedge.errors import PhonedgeError

from .options import ExportOptions


def _click_option(item: dataclasses.Field) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The click option of one ExportOptions field: its name, type, choices, range and default come from the field."""
    meta = item.metadata
    flag = meta.get("flag", item.name.replace("_", "-"))
    text = meta["help"] + (f" [default: {meta['default_help']}]" if "default_help" in meta else "")
    # A default that depends on the model is said in the help; None is no default to show.
    kwargs: dict[str, Any] = {"help": text, "show_default": "default_help" not in meta and item.default is not None}
    if str(item.type) in ("bool", "Optional[bool]"):  # the annotation, a string under postponed evaluation
        return click.option(f"--{flag}/--no-{flag}", item.name, default=item.default, **kwargs)
    if meta.get("multiple"):
        return click.option(f"--{flag}", item.name, multiple=True, metavar=meta.get("metavar"), help=text)
    if "choices" in meta:
        kind: Any = click.Choice(list(meta["choices"]))
    elif meta.get("path"):
        kind = click.Path(path_type=Path)
    elif "min" in meta or "max" in meta:
        number = click.FloatRange if isinstance(meta.get("min", meta.get("max")), float) else click.IntRange
        kind = number(meta.get("min"), meta.get("max"))
    else:
        kind = None
    return click.option(f"--{flag}", item.name, type=kind, default=item.default, metavar=meta.get("metavar"), **kwargs)


def _with_export_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate COMMAND with one click option per ExportOptions field, in the fields' order."""
    for item in reversed(dataclasses.fields(ExportOptions)):
        command = _click_option(item)(command)
    return command


@click.command("export")
@click.argument("model")
@click.option(
    "-o", "--output", "output", required=True, type=click.Path(path_type=Path), help="Bundle folder to create."
)
@_with_export_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON record instead of a summary line.")
def export(model: str, output: Path, as_json: bool, **options: Any) -> None:
    """Export a Hugging Face wav2vec2 CTC checkpoint (folder or hub id) MODEL to a phonedge bundle."""
    try:
        from phonedge_export import export_bundle

        manifest = export_bundle(
            model,
            output,
            ExportOptions(**options),
            progress=lambda message: click.echo(f"{message} ...", err=True),
        )
    except PhonedgeError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    record = _record(output, manifest.to_dict())
    click.echo(json.dumps(record, indent=2) if as_json else _summary(record))


def _record(output: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    graph, parity = manifest["graph"], manifest["parity"]
    return {
        "bundle": str(output),
        "quantization": graph["quantization"]["mode"],
        "inputs": graph["inputs"],
        "size_bytes": graph["size_bytes"],
        "sha256": graph["sha256"],
        "parity": parity,
        "decision": manifest.get("decision", {}),
    }


def _summary(record: dict[str, Any]) -> str:
    parity = record["parity"]
    verdict = "passed" if parity["passed"] else "FAILED (not gated)"
    line = (
        f"wrote {record['bundle']}: {record['quantization']}, {record['size_bytes'] / 1e6:.1f} MB, "
        f"inputs {'+'.join(record['inputs'])}; parity {verdict} on {parity['n_inputs']} {parity['inputs']} inputs: "
        f"max |dlogit| {parity['max_abs_logit_diff']:.2g}, frames {parity['frame_argmax_agreement']:.2%}, "
        f"transcripts {parity['transcript_agreement']:.0%}"
    )
    cal = record["decision"].get("calibration")
    if cal:
        line += (f"; open-set threshold {record['decision']['reject_threshold']:.3g} nats: rejects "
                 f"{cal['in_set_rejected']} of {cal['in_set']} in-set calibration recordings, accepts "
                 f"{cal['out_of_set_accepted']} of {cal['out_of_set']} others")
    return line

"""Build the artefacts the backends load: phonedge bundles and CTranslate2 models, cached with stamps."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Optional

from phonedge.checksum import files_sha256

from benchmarks.common.backends import ModelSet, ct2_incompatibility

STAMP_SUFFIX = ".stamp.json"
_STARTED = time.perf_counter()


def log(message: str) -> None:
    """A progress line on stderr, with the seconds since the harness started."""
    print(f"[bench {time.perf_counter() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def _source_fingerprint(model_dir: Path) -> dict[str, Any]:
    """Names, sizes and mtimes of a checkpoint's files: changes whenever the model is rewritten."""
    kept = (".json", ".safetensors", ".bin")
    files = sorted(p for p in Path(model_dir).iterdir() if p.is_file() and p.suffix in kept)
    return {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in files}


def exporter_version() -> dict[str, str]:
    """phonedge's version plus a digest of the exporter's source files (so an edited exporter re-exports)."""
    import phonedge_export

    import phonedge

    digest = hashlib.sha256()
    for path in sorted(Path(phonedge_export.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return {"phonedge": phonedge.__version__, "exporter_sources_sha256": digest.hexdigest()[:16]}


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + STAMP_SUFFIX)


def _cached(target: Path, stamp: dict[str, Any]) -> bool:
    path = _stamp_path(target)
    if not (target.is_dir() and path.is_file()):
        return False
    try:
        return json.loads(path.read_text(encoding="utf-8")) == stamp
    except json.JSONDecodeError:
        return False


def _write_stamp(target: Path, stamp: dict[str, Any]) -> None:
    _stamp_path(target).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")


def ensure_bundle(model_dir: Path, target: Path, quantize: str, *, labels: Optional[Path] = None,
                  calibration_audio: Optional[Path] = None, gate: bool = True) -> Path:
    """Export MODEL_DIR to the bundle TARGET with phonedge_export, unless an identical export is cached."""
    labels_sha256 = files_sha256([labels]) if labels and Path(labels).is_file() else None
    stamp = {"exporter": exporter_version(), "source": _source_fingerprint(model_dir), "quantize": quantize,
             "labels_sha256": labels_sha256, "calibration_audio": str(calibration_audio), "gate": gate}
    if _cached(target, stamp):
        log(f"reusing {target}")
        return target
    from phonedge_export import export_bundle

    log(f"exporting {model_dir} -> {target} (quantize={quantize})")
    _stamp_path(target).unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    export_bundle(model_dir, target, quantize=quantize, labels=labels, calibration_audio=calibration_audio,
                  overwrite=True, gate=gate, progress=lambda m: log(f"  export: {m}"))
    _write_stamp(target, stamp)
    return target


def ensure_ct2(model_dir: Path, target: Path, quantization: str = "int8") -> tuple[Optional[Path], Optional[str]]:
    """Convert MODEL_DIR with CTranslate2's TransformersConverter; return (folder, None) or (None, reason)."""
    try:
        import ctranslate2
    except ImportError as exc:
        return None, f"ctranslate2 is not installed ({exc})"
    stamp = {"ctranslate2": ctranslate2.__version__, "source": _source_fingerprint(model_dir),
             "quantization": quantization}
    if _cached(target, stamp):
        log(f"reusing {target}")
        return target, None
    log(f"converting {model_dir} with ctranslate2 {ctranslate2.__version__} -> {target}")
    _stamp_path(target).unlink(missing_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    try:
        converter = ctranslate2.converters.TransformersConverter(str(model_dir))
        converter.convert(str(target), quantization=quantization, force=True)
    except Exception as exc:  # the converter raises whatever transformers or its own checks raise
        config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
        cause = ct2_incompatibility(config)
        return None, f"conversion failed: {type(exc).__name__}: {exc}" + (f" -- cause: {cause}" if cause else "")
    _write_stamp(target, stamp)
    return target, None


def prepare_models(model_dir: Path, cache: Path, *, quantizations: tuple[str, ...], labels: Optional[Path] = None,
                   calibration_audio: Optional[Path] = None, gate: bool = True, ct2: bool = True) -> ModelSet:
    """Bundles (fp32 = quantize 'none', int8, maybe fp16) and the CTranslate2 int8 model of MODEL_DIR under CACHE."""
    cache.mkdir(parents=True, exist_ok=True)
    from phonedge.errors import PhonedgeError

    bundles: dict[str, Path] = {}
    errors: dict[str, str] = {}
    for mode in quantizations:
        key = "fp32" if mode == "none" else mode
        try:
            bundles[key] = ensure_bundle(model_dir, cache / f"bundle-{key}", mode, labels=labels,
                                         calibration_audio=calibration_audio, gate=gate)
        except PhonedgeError as exc:  # ExportError, e.g. a failed parity gate: recorded, not fatal
            errors[key] = f"export failed: {type(exc).__name__}: {exc}"
            log(f"{key} export failed: {exc}")
    ct2_dir, ct2_error = ensure_ct2(model_dir, cache / "ct2-int8") if ct2 else (None, "not requested")
    return ModelSet(hf_dir=model_dir, bundles=bundles, ct2_dir=ct2_dir, ct2_error=ct2_error, bundle_errors=errors)

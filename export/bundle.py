"""Write a bundle folder atomically: build it in a hidden sibling, manifest last, then rename it into place."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from phonedge.errors import ExportError
from phonedge.manifest import MANIFEST_NAME, Manifest

MODEL_FILE = "model.onnx"


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output_dir(out_dir: Path, model_dir: Path | None, overwrite: bool) -> Path:
    """Refuse an output folder that exists (unless OVERWRITE may replace it), or overlaps the model folder."""
    out_dir = Path(out_dir).expanduser().resolve()
    if model_dir is not None:
        model_dir = Path(model_dir).resolve()
        if _inside(out_dir, model_dir):
            raise ExportError(f"output {out_dir} is inside the model folder {model_dir}; write the bundle elsewhere")
        if _inside(model_dir, out_dir):
            raise ExportError(f"output {out_dir} contains the model folder {model_dir}; write the bundle elsewhere")
    if out_dir.is_file():
        raise ExportError(f"output {out_dir} is a file; give a folder path for the bundle")
    if out_dir.exists():
        if not overwrite:
            raise ExportError(f"output folder {out_dir} already exists; choose another or pass overwrite (--overwrite)")
        if any(out_dir.iterdir()) and not (out_dir / MANIFEST_NAME).is_file():
            raise ExportError(
                f"output folder {out_dir} is not empty and not a phonedge bundle; refusing to replace it, "
                "remove it yourself or choose another folder"
            )
    return out_dir


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    """Validate MANIFEST and write it to FOLDER/phonedge.json, flushed to disk."""
    manifest.validate(str(folder / MANIFEST_NAME))
    path = folder / MANIFEST_NAME
    with path.open("w", encoding="utf-8") as handle:
        handle.write(manifest.dumps())
        handle.flush()
        os.fsync(handle.fileno())
    return path


@contextmanager
def atomic_bundle(out_dir: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder next to OUT_DIR; on success rename it to OUT_DIR, on failure delete it.

    The staging folder must hold the manifest when the block ends: a folder without one is never published.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        yield staging
        if not (staging / MANIFEST_NAME).is_file():
            raise ExportError(f"internal error: the bundle staged in {staging} has no {MANIFEST_NAME}")
        staging.chmod(0o755)
        _publish(staging, out_dir, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _publish(staging: Path, out_dir: Path, overwrite: bool) -> None:
    """Rename STAGING to OUT_DIR; an existing OUT_DIR (allowed by OVERWRITE) is moved aside first, then deleted."""
    if not out_dir.exists():
        staging.rename(out_dir)
        return
    if not overwrite:
        raise ExportError(f"output folder {out_dir} appeared during the export; choose another or pass overwrite")
    retired = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
    retired.rmdir()
    out_dir.rename(retired)
    try:
        staging.rename(out_dir)
    except OSError:
        retired.rename(out_dir)
        raise
    shutil.rmtree(retired, ignore_errors=True)

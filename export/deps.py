"""The export extra: check that it is installed and record the versions a bundle was made with."""

from __future__ import annotations

import importlib
from importlib import metadata

from phonedge.errors import MissingExtraError
from phonedge.extras import EXPORT_INSTALL_HINT as INSTALL_HINT
from phonedge.extras import EXPORT_MODULES

RECORDED_DISTRIBUTIONS = ("torch", "transformers", "optimum", "optimum-onnx", "onnx", "onnxruntime")


def require_export_extra() -> None:
    """Raise MissingExtraError naming the first export dependency that cannot be imported."""
    for module, distribution in EXPORT_MODULES.items():
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise MissingExtraError(
                f"phonedge export needs {distribution}, which cannot be imported ({exc}); "
                f"install the export extra: {INSTALL_HINT}"
            ) from exc


def package_versions() -> dict[str, str]:
    """Versions of phonedge and of every package that shaped the exported graph."""
    from phonedge._version import __version__

    versions = {"phonedge": __version__}
    for distribution in RECORDED_DISTRIBUTIONS:
        try:
            versions[distribution] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[distribution] = "not installed"
    return versions

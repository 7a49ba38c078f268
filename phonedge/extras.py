"""The export extra's contents, for the runtime's CLI and for the exporter (which may not import without them)."""

from __future__ import annotations

EXPORT_INSTALL_HINT = "pip install 'phonedge[export]'"

# import name -> distribution name, in the order they are checked and recorded.
EXPORT_MODULES = {
    "torch": "torch",
    "transformers": "transformers",
    "optimum.exporters.onnx": "optimum-onnx",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
}


def is_export_module(name: str) -> bool:
    """Whether the module NAME belongs to a package of the export extra (onnxruntime excepted: the runtime has it)."""
    top = name.split(".")[0]
    return any(top == module.split(".")[0] for module in EXPORT_MODULES if module != "onnxruntime")

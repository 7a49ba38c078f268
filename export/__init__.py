"""phonedge's export side: Hugging Face wav2vec2 CTC checkpoint -> ONNX (Optimum) -> int8/fp16 -> bundle.

Importing this package is cheap; torch, transformers, Optimum and onnx are imported only by an export.
"""

from __future__ import annotations

from .exporter import STAGES, ExportJob, export_bundle
from .options import ExportOptions
from .quantize import QUANTIZE_MODES

__all__ = ["QUANTIZE_MODES", "STAGES", "ExportJob", "ExportOptions", "export_bundle"]

"""Export a ``Wav2Vec2ForCTC`` to ONNX through Hugging Face Optimum, with or without an attention mask.

Optimum's wav2vec2 ONNX config takes ``input_values`` only. That suits group-norm models (wav2vec2-base
style, ``feat_extract_norm == "group"``): their first conv layer normalises each channel over the
whole time axis, so zero padding changes every frame, Hugging Face runs them unmasked, and their
feature extractors return no attention mask; a runtime must run them one utterance at a time.

Layer-norm models (xlsr-53 style, ``feat_extract_norm == "layer"``) normalise each frame on its own,
so a frame inside the valid audio never sees the padding, and with the attention mask the encoder
zeroes the padded frames before the positional convolution and hides them from self-attention. Their
graph therefore also takes ``attention_mask`` (a subclass of Optimum's config, passed to its exporter),
so the runtime can batch zero-padded utterances and get each one's logits on its valid frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TASK = "automatic-speech-recognition"
INPUT_VALUES = "input_values"
ATTENTION_MASK = "attention_mask"
OUTPUT = "logits"
AXES = {0: "batch_size", 1: "sequence_length"}


def onnx_config(model_config: Any, with_attention_mask: bool) -> Any:
    """Optimum's wav2vec2 ONNX config for CTC logits, extended with ``attention_mask`` when asked."""
    from optimum.exporters.onnx.model_configs import Wav2Vec2OnnxConfig

    cls = _masked_config_class() if with_attention_mask else Wav2Vec2OnnxConfig
    return cls(model_config, task=TASK)


def _masked_config_class() -> type:
    """Build the masked config class on demand, so importing this module does not import Optimum."""
    from optimum.exporters.onnx.model_configs import Wav2Vec2OnnxConfig
    from optimum.utils.input_generators import DummyAudioInputGenerator

    class MaskedAudioInputGenerator(DummyAudioInputGenerator):
        """Dummy waveform plus an all-ones attention mask of the same shape."""

        SUPPORTED_INPUT_NAMES = (INPUT_VALUES, ATTENTION_MASK)

        def generate(self, input_name: str, framework: str = "pt", int_dtype: str = "int64", float_dtype: str = "fp32"):
            if input_name == ATTENTION_MASK:
                shape = [self.batch_size, self.sequence_length]
                return self.random_int_tensor(shape, min_value=1, max_value=2, framework=framework, dtype=int_dtype)
            return super().generate(input_name, framework, int_dtype, float_dtype)

    class MaskedWav2Vec2OnnxConfig(Wav2Vec2OnnxConfig):
        """wav2vec2 CTC graph that takes the waveform and its attention mask."""

        DUMMY_INPUT_GENERATOR_CLASSES = (MaskedAudioInputGenerator,)

        @property
        def inputs(self) -> dict[str, dict[int, str]]:
            return {INPUT_VALUES: dict(AXES), ATTENTION_MASK: dict(AXES)}

    return MaskedWav2Vec2OnnxConfig


def export_onnx(model: Any, path: Path, with_attention_mask: bool, opset: int | None = None) -> list[str]:
    """Write MODEL's CTC graph to PATH with dynamic batch and length axes; return its input names."""
    from optimum.exporters.onnx.convert import export

    config = onnx_config(model.config, with_attention_mask)
    inputs, _outputs = export(model=model, config=config, output=Path(path), opset=opset)
    return list(inputs)


def optimize_offline(source: Path, target: Path) -> None:
    """Save SOURCE after ONNX Runtime's basic (portable, standard-op) graph optimisations to TARGET."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(target)
    options.log_severity_level = 3
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])


def topological(nodes: list[Any], available: set[str]) -> tuple[list[Any], list[Any]]:
    """NODES in an order where each follows the producers of its inputs, and the nodes left over.

    AVAILABLE holds the names defined before them (graph inputs, initializers). Leftovers read a
    name produced nowhere among NODES: a cycle, an undefined input, or a name from an outer graph.
    The float16 converter appends its input Casts after their readers, which ONNX Runtime accepts
    but the ONNX checker refuses.
    """
    ready, pending, ordered = set(available) | {""}, list(nodes), []
    while pending:
        rest = []
        for node in pending:
            if all(name in ready for name in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            return ordered, rest
        pending = rest
    return ordered, []

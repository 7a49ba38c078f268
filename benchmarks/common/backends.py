"""The compared backends: one small class each, all with load(), logits(samples) and transcribe(samples).

Every backend takes the same mono float32 16 kHz samples and does its own feature extraction and
greedy CTC decoding, as a user of that stack would: PyTorch and CTranslate2 through the Hugging Face
processor, phonedge through its public API. Heavy imports happen in ``load`` so a benchmark worker
imports only the libraries of its own backend.
"""

from __future__ import annotations

import io
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
from numpy.typing import NDArray

from benchmarks.common.workloads import SAMPLE_RATE

CPU_BACKENDS = ("pytorch-fp32", "pytorch-int8-dynamic", "phonedge-fp32", "phonedge-int8", "ctranslate2-int8")
CUDA_BACKENDS = ("pytorch-fp32-cuda", "phonedge-fp32-cuda", "phonedge-fp16-cuda")
REFERENCE = "pytorch-fp32"
FP16_CPU_SKIP = (
    "phonedge fp16 on CPU is not measured: ONNX Runtime's CPU execution provider has float16 kernels "
    "for few operators, so an fp16 graph runs mostly through inserted Cast nodes and float32 fallbacks "
    "(slower than fp32, only smaller on disk); fp16 bundles are meant for provider='cuda'"
)


@dataclass
class Output:
    """What one backend says about one utterance."""

    text: str
    logits: NDArray[np.float32]  # (frames, classes)


@dataclass(frozen=True)
class ModelSet:
    """Every artefact of one model that the backends load: HF folder, phonedge bundles, CTranslate2 folder."""

    hf_dir: Path
    bundles: dict[str, Path] = field(default_factory=dict)
    ct2_dir: Optional[Path] = None
    ct2_error: Optional[str] = None
    bundle_errors: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (passed to worker processes)."""
        return {"hf_dir": str(self.hf_dir), "bundles": {k: str(v) for k, v in self.bundles.items()},
                "ct2_dir": str(self.ct2_dir) if self.ct2_dir else None, "ct2_error": self.ct2_error,
                "bundle_errors": dict(self.bundle_errors)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSet:
        """Inverse of :meth:`to_dict`."""
        return cls(Path(data["hf_dir"]), {k: Path(v) for k, v in data["bundles"].items()},
                   Path(data["ct2_dir"]) if data.get("ct2_dir") else None, data.get("ct2_error"),
                   dict(data.get("bundle_errors", {})))


class BackendUnavailable(RuntimeError):
    """The backend cannot run this model; the message says exactly why."""


def folder_bytes(path: Path) -> int:
    """Total size of the files under PATH (one file: its size)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class Backend(ABC):
    """One way to run the model: load once, then logits and transcripts of float32 16 kHz samples."""

    name: str = ""
    settings: dict[str, Any] = {}

    @abstractmethod
    def import_libraries(self) -> None:
        """Import what this backend needs (timed apart from the load)."""

    @abstractmethod
    def load(self) -> None:
        """Load the model (timed as the load time)."""

    @abstractmethod
    def infer(self, samples: NDArray[np.float32]) -> Output:
        """Features, model and greedy decoding of one utterance."""

    @abstractmethod
    def model_bytes(self) -> int:
        """Bytes of the model as this backend stores it."""

    def logits(self, samples: NDArray[np.float32]) -> NDArray[np.float32]:
        """Logits (frames, classes) of one utterance."""
        return self.infer(samples).logits

    def transcribe(self, samples: NDArray[np.float32]) -> str:
        """Greedy transcript of one utterance."""
        return self.infer(samples).text


class TorchBackend(Backend):
    """Hugging Face Wav2Vec2ForCTC + Wav2Vec2Processor in eager PyTorch (optionally dynamic int8 Linear)."""

    def __init__(self, name: str, model_dir: Path, threads: int, quantize: bool = False, device: str = "cpu"):
        """Remember the settings; nothing is loaded yet."""
        self.name, self.model_dir, self.threads, self.quantize, self.device = name, model_dir, threads, quantize, device
        self.settings = {"torch.set_num_threads": threads, "inference_mode": True, "device": device,
                         "quantize_dynamic": "torch.nn.Linear -> qint8" if quantize else None}
        self._model: Any = None
        self._processor: Any = None

    def import_libraries(self) -> None:
        """torch and transformers."""
        import torch  # noqa: F401
        from transformers import Wav2Vec2ForCTC, Wav2Vec2Processor  # noqa: F401

    def load(self) -> None:
        """Load processor and model; quantize every nn.Linear dynamically when asked."""
        import torch
        from transformers import Wav2Vec2ForCTC, Wav2Vec2Processor

        torch.set_num_threads(self.threads)
        self._processor = Wav2Vec2Processor.from_pretrained(str(self.model_dir))
        model = Wav2Vec2ForCTC.from_pretrained(str(self.model_dir)).eval()
        if self.quantize:
            import warnings

            from torch.ao.quantization import quantize_dynamic

            with warnings.catch_warnings():  # torch 2.10+ warns that quantized tensors are deprecated
                warnings.simplefilter("ignore", UserWarning)
                model = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
            self.settings["quantized_engine"] = torch.backends.quantized.engine
        self._model = model.to(self.device)

    def infer(self, samples: NDArray[np.float32]) -> Output:
        """Processor features -> model -> argmax -> processor.decode."""
        import torch

        feats = self._processor(samples, sampling_rate=SAMPLE_RATE, return_tensors="pt")
        kwargs = {}
        if "attention_mask" in feats:
            kwargs["attention_mask"] = feats["attention_mask"].to(self.device)
        with torch.inference_mode():
            logits = self._model(feats["input_values"].to(self.device), **kwargs).logits[0].float().cpu()
        text = self._processor.decode(logits.argmax(dim=-1))
        return Output(text=text, logits=logits.numpy())

    def model_bytes(self) -> int:
        """Checkpoint weights for fp32; the serialized quantized state dict for int8."""
        if not self.quantize:
            return sum(folder_bytes(p) for p in Path(self.model_dir).glob("*.safetensors"))
        import torch

        buffer = io.BytesIO()
        torch.save(self._model.state_dict(), buffer)
        return buffer.tell()


class PhonedgeBackend(Backend):
    """A phonedge bundle through the public runtime API (phonedge.load + Recognizer.predict)."""

    def __init__(self, name: str, bundle: Path, threads: int, provider: str = "cpu"):
        """Remember the settings; nothing is loaded yet."""
        self.name, self.bundle, self.threads, self.provider = name, bundle, threads, provider
        self.settings = {"phonedge.load(threads)": threads, "provider": provider,
                         "onnxruntime": f"intra_op_num_threads={threads}, graph optimisation all"}
        self._rec: Any = None

    def import_libraries(self) -> None:
        """phonedge (numpy, onnxruntime, soundfile)."""
        import onnxruntime  # noqa: F401

        import phonedge  # noqa: F401

    def load(self) -> None:
        """Open the bundle."""
        import phonedge

        self._rec = phonedge.load(self.bundle, threads=self.threads, provider=self.provider)
        plan = self._rec.chunking
        self.settings["chunking"] = {"chunk_s": plan.chunk_s, "left_s": plan.left_s, "right_s": plan.right_s}
        self.settings["quantization"] = self._rec.manifest.graph.quantization.get("mode")

    def infer(self, samples: NDArray[np.float32]) -> Output:
        """Recognizer.predict on the array (normalisation, ONNX, decoding; class scoring left out)."""
        pred = self._rec.predict(samples, sample_rate=SAMPLE_RATE, labels=[], return_logits=True)
        return Output(text=pred.text, logits=pred.logits)

    def model_bytes(self) -> int:
        """The whole bundle folder (ONNX file and manifest)."""
        return folder_bytes(self.bundle)


class CTranslate2Backend(Backend):
    """A CTranslate2 Wav2Vec2 model (int8), with the Hugging Face feature extractor and tokenizer."""

    def __init__(self, name: str, ct2_dir: Optional[Path], hf_dir: Path, threads: int, error: Optional[str],
                 compute_type: str = "int8"):
        """Remember the settings; nothing is loaded yet."""
        self.name, self.ct2_dir, self.hf_dir, self.threads, self.error = name, ct2_dir, hf_dir, threads, error
        self.compute_type = compute_type
        self.settings = {"intra_threads": threads, "inter_threads": 1, "compute_type": compute_type}
        self._model: Any = None
        self._extractor: Any = None
        self._tokenizer: Any = None

    def import_libraries(self) -> None:
        """ctranslate2, and transformers for the feature extractor and tokenizer."""
        import ctranslate2  # noqa: F401
        from transformers import Wav2Vec2FeatureExtractor  # noqa: F401

    def load(self) -> None:
        """Load the converted model, the feature extractor and the tokenizer."""
        if self.ct2_dir is None:
            raise BackendUnavailable(self.error or "no CTranslate2 model was converted")
        import ctranslate2
        import transformers

        self._model = ctranslate2.models.Wav2Vec2(str(self.ct2_dir), device="cpu", compute_type=self.compute_type,
                                                  intra_threads=self.threads, inter_threads=1)
        self._extractor = transformers.Wav2Vec2FeatureExtractor.from_pretrained(str(self.hf_dir))
        self._tokenizer = _load_tokenizer(self.hf_dir)

    def infer(self, samples: NDArray[np.float32]) -> Output:
        """Normalised waveform (batch, 1, samples) -> encode -> argmax -> tokenizer.decode."""
        import ctranslate2

        feats = self._extractor(samples, sampling_rate=SAMPLE_RATE, return_tensors="np")["input_values"]
        storage = ctranslate2.StorageView.from_array(np.ascontiguousarray(feats[:, None, :], dtype=np.float32))
        try:
            logits = np.array(self._model.encode(storage, to_cpu=True))[0]
        except Exception as exc:  # CTranslate2 raises plain ValueError/RuntimeError from C++
            raise BackendUnavailable(_with_cause(f"{type(exc).__name__}: {exc}", self.hf_dir)) from exc
        return Output(text=self._tokenizer.decode(logits.argmax(axis=-1).tolist()), logits=logits)

    def model_bytes(self) -> int:
        """The converted model folder."""
        return folder_bytes(self.ct2_dir) if self.ct2_dir else 0


def _load_tokenizer(hf_dir: Path) -> Any:
    """The checkpoint's CTC tokenizer (phoneme tokenizers without a phonemizer backend)."""
    import transformers

    settings = json.loads((Path(hf_dir) / "tokenizer_config.json").read_text(encoding="utf-8"))
    kind = settings.get("tokenizer_class", "Wav2Vec2CTCTokenizer")
    extra = {"do_phonemize": False} if kind == "Wav2Vec2PhonemeCTCTokenizer" else {}
    return getattr(transformers, kind).from_pretrained(str(hf_dir), **extra)


def ct2_incompatibility(config: dict[str, Any]) -> Optional[str]:
    """Why CTranslate2 4.x cannot run this wav2vec2 config exactly, or None.

    Its Wav2Vec2 encoder (src/layers/wav2vec2.cc) hard-codes the xlsr-53/large-robust layout: layer-norm
    conv layers with strides 5,2,2,2,2,2,2, a positional conv with padding 64 and 16 groups (kernel 128),
    pre-norm ("stable layer norm") transformer layers and GELU.
    """
    problems = []
    if config.get("feat_extract_norm") != "layer":
        problems.append(f"feat_extract_norm={config.get('feat_extract_norm')!r} (needs 'layer')")
    if list(config.get("conv_stride", [])) != [5, 2, 2, 2, 2, 2, 2]:
        problems.append(f"conv_stride={config.get('conv_stride')} (hard-coded 5,2,2,2,2,2,2)")
    if config.get("num_conv_pos_embeddings") != 128:
        problems.append(f"num_conv_pos_embeddings={config.get('num_conv_pos_embeddings')} "
                        "(hard-coded padding 64, i.e. kernel 128)")
    if config.get("num_conv_pos_embedding_groups") != 16:
        problems.append(f"num_conv_pos_embedding_groups={config.get('num_conv_pos_embedding_groups')} "
                        "(hard-coded 16)")
    if not config.get("do_stable_layer_norm"):
        problems.append("do_stable_layer_norm=False (hard-coded pre-norm layers)")
    if config.get("hidden_act") != "gelu" or config.get("feat_extract_activation") != "gelu":
        problems.append("non-GELU activations (hard-coded GELU)")
    if not problems:
        return None
    return "CTranslate2's Wav2Vec2 encoder hard-codes the xlsr-53 layout; this model differs: " + "; ".join(problems)


def _with_cause(error: str, hf_dir: Path) -> str:
    """An error message followed by the known architectural cause, when there is one."""
    config = json.loads((Path(hf_dir) / "config.json").read_text(encoding="utf-8"))
    cause = ct2_incompatibility(config)
    return f"{error} -- cause: {cause}" if cause else error


Factory = Callable[[ModelSet, int], Backend]

FACTORIES: dict[str, Factory] = {
    "pytorch-fp32": lambda m, n: TorchBackend("pytorch-fp32", m.hf_dir, n),
    "pytorch-int8-dynamic": lambda m, n: TorchBackend("pytorch-int8-dynamic", m.hf_dir, n, quantize=True),
    "phonedge-fp32": lambda m, n: PhonedgeBackend("phonedge-fp32", m.bundles["fp32"], n),
    "phonedge-int8": lambda m, n: PhonedgeBackend("phonedge-int8", m.bundles["int8"], n),
    "ctranslate2-int8": lambda m, n: CTranslate2Backend("ctranslate2-int8", m.ct2_dir, m.hf_dir, n, m.ct2_error),
    "pytorch-fp32-cuda": lambda m, n: TorchBackend("pytorch-fp32-cuda", m.hf_dir, n, device="cuda"),
    "phonedge-fp32-cuda": lambda m, n: PhonedgeBackend("phonedge-fp32-cuda", m.bundles["fp32"], n, "cuda"),
    "phonedge-fp16-cuda": lambda m, n: PhonedgeBackend("phonedge-fp16-cuda", m.bundles["fp16"], n, "cuda"),
}


def make_backend(name: str, models: ModelSet, threads: int) -> Backend:
    """The backend called NAME for MODELS, not yet loaded."""
    if name not in FACTORIES:
        key = name[len("phonedge-"):]
        # any other bundle (benchmarks/quantization/quant_modes.py)
        if name.startswith("phonedge-") and key in models.bundles:
            return PhonedgeBackend(name, models.bundles[key], threads)
        raise KeyError(f"unknown backend {name!r}; known: {', '.join(FACTORIES)}")
    try:
        return FACTORIES[name](models, threads)
    except KeyError as exc:
        key = exc.args[0]
        raise BackendUnavailable(models.bundle_errors.get(key, f"no {key} bundle was exported")) from exc

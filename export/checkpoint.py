"""Find and validate a Hugging Face wav2vec2 CTC checkpoint and read what the bundle needs from it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from phonedge.checksum import files_sha256
from phonedge.errors import ExportError
from phonedge.manifest import TOKENIZER_KINDS, AudioSpec, TokenizerSpec

SUPPORTED_MODEL_TYPES = ("wav2vec2",)
CTC_ARCHITECTURE = "Wav2Vec2ForCTC"
FEATURE_EXTRACTOR = "Wav2Vec2FeatureExtractor"
HUB_FILES = ["*.json", "*.safetensors", "*.bin", "*.txt"]
SAVE_HINT = "save the model with model.save_pretrained(folder) and processor.save_pretrained(folder)"
# "name" or "owner/name": letters, digits, '-', '_', '.'; no leading '.', '/' or '~'.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


@dataclass(frozen=True)
class Checkpoint:
    """A validated local checkpoint folder and the bundle fields read from it."""

    source: str
    folder: Path
    config: dict[str, Any]
    audio: AudioSpec
    tokenizer: TokenizerSpec
    weights_sha256: str

    @property
    def model_type(self) -> str:
        """The config's model_type (``wav2vec2``)."""
        return str(self.config["model_type"])

    @property
    def uses_layer_norm(self) -> bool:
        """Whether the conv feature encoder uses layer norm (xlsr-53 style) rather than group norm."""
        return self.audio.feat_extract_norm == "layer"


def is_hub_id(text: str) -> bool:
    """Whether TEXT could name a Hugging Face Hub repository (``owner/name`` or ``name``)."""
    return bool(_HUB_ID.match(text)) and ".." not in text


def resolve_model(model: str | Path, progress: Callable[[str], None] | None = None) -> Path:
    """Return the local folder of MODEL: the path itself, or a hub snapshot when the path does not exist."""
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ExportError(f"{path} is a file; give the folder of a Hugging Face checkpoint (with config.json)")
        return path
    text = str(model)
    if not is_hub_id(text):
        raise ExportError(
            f"model folder not found: {path} (give a local checkpoint folder or a hub id like owner/name)"
        )
    if progress is not None:
        progress(f"downloading {text} from the Hugging Face Hub")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=text, allow_patterns=HUB_FILES))
    except Exception as exc:  # the hub client raises many unrelated types (HTTP, offline, validation)
        raise ExportError(
            f"model not found: no folder {path}, and {text!r} could not be fetched from the Hugging Face Hub "
            f"({type(exc).__name__}: {exc}); check the path, or the hub id and your network"
        ) from exc


def read_checkpoint(folder: Path, source: str) -> Checkpoint:
    """Validate FOLDER as a wav2vec2 CTC checkpoint and read its audio and tokenizer specs."""
    config = _read_config(folder)
    _check_architecture(folder, config)
    weights = weight_files(folder)
    return Checkpoint(
        source=source,
        folder=folder,
        config=config,
        audio=read_audio_spec(folder, config),
        tokenizer=read_tokenizer_spec(folder, config),
        weights_sha256=files_sha256(weights),
    )


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        raise ExportError(f"{folder} is not a Hugging Face model folder: config.json is missing ({SAVE_HINT})")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise ExportError(f"{path}: expected a JSON object")
    return config


def _check_architecture(folder: Path, config: dict[str, Any]) -> None:
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ExportError(
            f"{folder}: model_type {model_type!r} is not supported; phonedge exports "
            f"{', '.join(SUPPORTED_MODEL_TYPES)} CTC models ({CTC_ARCHITECTURE})"
        )
    architectures = config.get("architectures") or []
    if CTC_ARCHITECTURE not in architectures:
        raise ExportError(
            f"{folder}: architectures {architectures} lack {CTC_ARCHITECTURE}; phonedge exports CTC models "
            f"fine-tuned with a CTC head (load it as {CTC_ARCHITECTURE} and save_pretrained it)"
        )


def weight_files(folder: Path) -> list[Path]:
    """The weight files ``from_pretrained`` loads: safetensors when present, else PyTorch .bin files."""
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))
    if not files:
        raise ExportError(f"{folder}: no weights (model.safetensors or pytorch_model.bin); {SAVE_HINT}")
    return files


def receptive_field(kernels: list[int], strides: list[int]) -> int:
    """Samples seen by one output frame of a stack of 1-d convolutions (400 for wav2vec2)."""
    field = 1
    for kernel, stride in zip(reversed(kernels), reversed(strides)):
        field = (field - 1) * stride + kernel
    return field


def read_audio_spec(folder: Path, config: dict[str, Any]) -> AudioSpec:
    """AudioSpec from the feature extractor (preprocessor_config.json) and the conv layers of the config."""
    if not (folder / "preprocessor_config.json").is_file():
        raise ExportError(f"{folder}: preprocessor_config.json (the feature extractor) is missing; {SAVE_HINT}")
    from transformers import Wav2Vec2FeatureExtractor

    extractor = Wav2Vec2FeatureExtractor.from_pretrained(folder)
    kind = extractor.to_dict().get("feature_extractor_type", FEATURE_EXTRACTOR)
    if kind != FEATURE_EXTRACTOR:
        raise ExportError(f"{folder}: feature extractor {kind!r} is not a {FEATURE_EXTRACTOR}")
    kernels, strides = list(config.get("conv_kernel", [])), list(config.get("conv_stride", []))
    if not kernels or len(kernels) != len(strides):
        raise ExportError(f"{folder}/config.json: conv_kernel and conv_stride must be lists of equal length")
    stride = 1
    for step in strides:
        stride *= int(step)
    return AudioSpec(
        sample_rate=int(extractor.sampling_rate),
        do_normalize=bool(extractor.do_normalize),
        padding_value=float(extractor.padding_value),
        feat_extract_norm=str(config.get("feat_extract_norm", "group")),
        frame_stride=stride,
        receptive_field=receptive_field(kernels, strides),
    )


def read_tokenizer_spec(folder: Path, config: dict[str, Any]) -> TokenizerSpec:
    """TokenizerSpec from the checkpoint's CTC tokenizer, vocabulary indexed by id up to the model's output size."""
    if not (folder / "vocab.json").is_file():
        raise ExportError(f"{folder}: the tokenizer vocabulary vocab.json is missing; {SAVE_HINT}")
    tokenizer = _load_tokenizer(folder)
    vocab = _vocab_by_id(tokenizer, int(config.get("vocab_size") or 0))
    if tokenizer.pad_token_id is None:
        raise ExportError(f"{folder}: the tokenizer has no pad token, which CTC uses as its blank")
    replace = getattr(tokenizer, "replace_word_delimiter_char", " ")
    if replace != " ":
        raise ExportError(f"{folder}: replace_word_delimiter_char={replace!r} is not supported (only ' ')")
    kind = type(tokenizer).__name__
    has_delimiter = tokenizer.word_delimiter_token_id is not None
    return TokenizerSpec(
        kind=kind,
        vocab=vocab,
        blank_id=int(tokenizer.pad_token_id),
        pad_token=str(tokenizer.pad_token),
        unk_token=str(tokenizer.unk_token),
        word_delimiter_token=str(tokenizer.word_delimiter_token) if has_delimiter else None,
        do_lower_case=bool(getattr(tokenizer, "do_lower_case", False)),
        clean_up_tokenization_spaces=bool(tokenizer.clean_up_tokenization_spaces),
    )


def _load_tokenizer(folder: Path) -> Any:
    settings_path = folder / "tokenizer_config.json"
    try:
        settings = json.loads(settings_path.read_text(encoding="utf-8")) if settings_path.is_file() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{settings_path}: not valid JSON ({exc})") from exc
    kind = settings.get("tokenizer_class") if isinstance(settings, dict) else None
    kind = kind or TOKENIZER_KINDS[0]
    if kind not in TOKENIZER_KINDS:
        raise ExportError(f"{folder}: tokenizer {kind!r} is not supported; use one of {', '.join(TOKENIZER_KINDS)}")
    import transformers

    cls = getattr(transformers, kind)
    # The bundle stores ids and tokens only, so never start a phonemizer backend (espeak) here.
    extra = {"do_phonemize": False} if kind == "Wav2Vec2PhonemeCTCTokenizer" else {}
    try:
        return cls.from_pretrained(folder, **extra)
    except (OSError, ValueError, TypeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{folder}: cannot load the {kind} tokenizer ({exc})") from exc


def _vocab_by_id(tokenizer: Any, model_outputs: int) -> list[str]:
    """Tokens indexed by id, added tokens included, holes filled with the unk token."""
    ids = tokenizer.get_vocab().values()
    size = max(model_outputs, max(ids, default=-1) + 1)
    unk = str(tokenizer.unk_token)
    tokens = tokenizer.convert_ids_to_tokens(list(range(size)))
    return [unk if token is None else str(token) for token in tokens]


def load_model(folder: Path) -> Any:
    """The PyTorch ``Wav2Vec2ForCTC`` of FOLDER in eval mode."""
    from transformers import Wav2Vec2ForCTC

    try:
        model, info = Wav2Vec2ForCTC.from_pretrained(folder, output_loading_info=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ExportError(f"{folder}: cannot load the model weights ({exc})") from exc
    head = sorted(key for key in info.get("missing_keys", ()) if key.startswith("lm_head."))
    if head:
        raise ExportError(
            f"{folder}: the weights lack the CTC head ({', '.join(head)}); this is not a CTC fine-tuned "
            "checkpoint, fine-tune it with a CTC head first"
        )
    return model.eval()

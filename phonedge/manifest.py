"""The bundle manifest (``phonedge.json``): the versioned contract between export and runtime."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import BundleNotFoundError, ModelBundleError

MANIFEST_NAME = "phonedge.json"
FORMAT_NAME = "phonedge-bundle"
FORMAT_VERSION = 1
TOKENIZER_KINDS = ("Wav2Vec2CTCTokenizer", "Wav2Vec2PhonemeCTCTokenizer")
# Fields that earlier bundles carry and nothing reads: ignored on reading, no longer written.
# The batching decision comes from the graph's inputs, and greedy decoding with batch_decode's default
# options needs neither the special tokens nor the phone delimiter (which only phonemizing uses).
RETIRED_FIELDS = {"audio": ("return_attention_mask",), "tokenizer": ("special_tokens", "phone_delimiter_token")}


@dataclass(frozen=True)
class AudioSpec:
    """How raw audio becomes model input."""

    sample_rate: int = 16_000
    do_normalize: bool = True
    padding_value: float = 0.0
    feat_extract_norm: str = "layer"
    frame_stride: int = 320
    receptive_field: int = 400
    normalized_in_graph: bool = False  # the graph normalises input_values itself (--target cuda bundles)

    @property
    def runtime_normalizes(self) -> bool:
        """Whether the runtime normalises the waveform before the graph (not when the graph does it)."""
        return self.do_normalize and not self.normalized_in_graph


@dataclass(frozen=True)
class TokenizerSpec:
    """Everything the CTC decoder needs to reproduce the Hugging Face tokenizer's ``batch_decode``."""

    kind: str
    vocab: list[str]
    blank_id: int
    pad_token: str = "<pad>"
    unk_token: str = "<unk>"
    word_delimiter_token: str | None = "|"
    do_lower_case: bool = False
    clean_up_tokenization_spaces: bool = False


@dataclass(frozen=True)
class GraphSpec:
    """The ONNX file and how to feed it."""

    file: str
    inputs: list[str]
    output: str = "logits"
    quantization: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    size_bytes: int = 0


@dataclass(frozen=True)
class ClassLabel:
    """One class of the model card: its label, name and reference transcript."""

    label: str
    transcript: str
    name: str = ""


@dataclass(frozen=True)
class Manifest:
    """The whole manifest of a bundle."""

    audio: AudioSpec
    tokenizer: TokenizerSpec
    graph: GraphSpec
    labels: list[ClassLabel] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    parity: dict[str, Any] = field(default_factory=dict)
    # The open-set decision: {"reject_threshold": float, "calibration": {how it was chosen}}; {} = the default.
    decision: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION

    @property
    def has_attention_mask(self) -> bool:
        """Whether the graph takes an attention mask (so padded batches keep per-item results)."""
        return "attention_mask" in self.graph.inputs

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return asdict(self)

    def dumps(self) -> str:
        """JSON text of the manifest."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "manifest") -> Manifest:
        """Build and validate a manifest from its JSON form."""
        if not isinstance(data, dict):
            raise ModelBundleError(f"{where}: expected a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT_NAME:
            raise ModelBundleError(f"{where}: not a phonedge bundle manifest (format={data.get('format')!r})")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ModelBundleError(
                f"{where}: bundle format version {version!r}, this phonedge reads version "
                f"{FORMAT_VERSION}; re-export the model with this phonedge version"
            )
        try:
            manifest = cls(
                audio=AudioSpec(**_current(data["audio"], "audio")),
                tokenizer=TokenizerSpec(**_current(data["tokenizer"], "tokenizer")),
                graph=GraphSpec(**data["graph"]),
                labels=[ClassLabel(**item) for item in data.get("labels", [])],
                source=dict(data.get("source", {})),
                versions=dict(data.get("versions", {})),
                parity=dict(data.get("parity", {})),
                decision=dict(data.get("decision", {})),
            )
        except (KeyError, TypeError) as exc:
            raise ModelBundleError(f"{where}: missing or unexpected field ({exc}); re-export the bundle") from exc
        manifest.validate(where)
        return manifest

    def validate(self, where: str = "manifest") -> None:
        """Raise ModelBundleError when fields contradict each other."""
        tok, audio = self.tokenizer, self.audio
        problems = []
        if tok.kind not in TOKENIZER_KINDS:
            problems.append(f"tokenizer kind {tok.kind!r} is not one of {', '.join(TOKENIZER_KINDS)}")
        if not tok.vocab:
            problems.append("the vocabulary is empty")
        elif not 0 <= tok.blank_id < len(tok.vocab):
            problems.append(f"blank_id {tok.blank_id} is outside the vocabulary of {len(tok.vocab)}")
        if audio.sample_rate <= 0 or audio.frame_stride <= 0 or audio.receptive_field <= 0:
            problems.append("sample_rate, frame_stride and receptive_field must be positive")
        if "input_values" not in self.graph.inputs:
            problems.append(f"graph inputs {self.graph.inputs} lack 'input_values'")
        threshold = self.decision.get("reject_threshold")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                      or threshold != threshold):
            problems.append(f"decision.reject_threshold must be a number, got {threshold!r}")
        if problems:
            raise ModelBundleError(f"{where}: " + "; ".join(problems))


def _current(section: Any, name: str) -> Any:
    """SECTION without the fields it no longer has (see RETIRED_FIELDS)."""
    if not isinstance(section, dict):
        return section
    return {key: value for key, value in section.items() if key not in RETIRED_FIELDS.get(name, ())}


def read_manifest(bundle: Path, *, verify: bool = False) -> Manifest:
    """Read and validate ``bundle/phonedge.json`` and check the ONNX file it names.

    The ONNX file must exist and have the manifest's ``size_bytes`` (a stat: always checked). With
    ``verify=True`` its sha256 is compared too, which reads the whole file (0.8 s for the 342 MB of
    an xlsr-53 int8 bundle on a 2-core AMD EPYC); ``phonedge check BUNDLE`` does that.

    Raises:
        BundleNotFoundError: the folder, its manifest or its ONNX file is missing.
        ModelBundleError: the manifest is corrupt or of another format version, or the ONNX file's
            size (or, with VERIFY, its sha256) differs from the manifest's.
    """
    bundle = Path(bundle)
    if not bundle.exists():
        raise BundleNotFoundError(f"model bundle not found: {bundle} (create one with 'phonedge export')")
    if not bundle.is_dir():
        raise ModelBundleError(f"model bundle must be a folder, got a file: {bundle}")
    path = bundle / MANIFEST_NAME
    if not path.is_file():
        raise BundleNotFoundError(
            f"{bundle} is not a phonedge bundle: {MANIFEST_NAME} is missing "
            "(an interrupted export leaves none; export again)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelBundleError(f"{path}: corrupt manifest, not valid JSON ({exc}); export again") from exc
    manifest = Manifest.from_dict(data, where=str(path))
    check_graph_file(bundle, manifest.graph, verify=verify)
    return manifest


def check_graph_file(bundle: Path, graph: GraphSpec, *, verify: bool = False) -> Path:
    """The path of the bundle's ONNX file, checked against the manifest's size (and sha256 with VERIFY)."""
    path = Path(bundle) / graph.file
    if not path.is_file():
        raise BundleNotFoundError(
            f"{bundle}: the ONNX file {graph.file!r} named in the manifest is missing; export again"
        )
    size = path.stat().st_size
    if graph.size_bytes and size != graph.size_bytes:
        raise ModelBundleError(
            f"{path}: {size} bytes, but the manifest says {graph.size_bytes}: the file is truncated or was "
            "replaced after export; copy the bundle again or export again"
        )
    if verify and graph.sha256:
        from .checksum import files_sha256

        digest = files_sha256([path])
        if digest != graph.sha256:
            raise ModelBundleError(
                f"{path}: sha256 {digest} differs from the manifest's {graph.sha256}: the file is corrupt or "
                "was replaced after export; copy the bundle again or export again"
            )
    return path


def bundle_digest(bundle: Path) -> str:
    """A bundle's identity: sha256 of its manifest bytes, which record the graph's own sha256.

    A manifest without the graph's sha256 (hand-made bundles) also hashes the ONNX file itself.
    """
    from .checksum import files_sha256

    bundle = Path(bundle)
    manifest = read_manifest(bundle)  # checks that the ONNX file is there
    graph = [] if manifest.graph.sha256 else [bundle / manifest.graph.file]
    return files_sha256([bundle / MANIFEST_NAME, *graph])

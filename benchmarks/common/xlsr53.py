"""Random-weight checkpoints with the exact architecture of facebook/wav2vec2-large-xlsr-53 (and a toy twin)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any, Optional

from benchmarks.common.paths import CACHE

# The architecture fields of facebook/wav2vec2-large-xlsr-53's published config.json (315 M parameters
# with a CTC head). Training-only fields (dropouts, masking, quantizer) do not change inference.
XLSR53_ARCHITECTURE: dict[str, Any] = {
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "conv_dim": [512] * 7,
    "conv_stride": [5, 2, 2, 2, 2, 2, 2],
    "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "conv_bias": True,
    "feat_extract_norm": "layer",
    "do_stable_layer_norm": True,
    "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16,
    "feat_extract_activation": "gelu",
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
}

# The same family at toy width for the quick mode: same strides, kernels, norms and positional conv
# (kernel 128, 16 groups), so every backend, CTranslate2 included, takes the same code paths.
TINY_ARCHITECTURE: dict[str, Any] = dict(XLSR53_ARCHITECTURE, hidden_size=64, num_hidden_layers=2,
                                          num_attention_heads=4, intermediate_size=128, conv_dim=[32] * 7)

PHONE_FALLBACK = ["z", "ih", "r", "ow", "w", "ah", "n", "t", "uw", "th", "iy"]
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>"]
PROCESSOR_FILES = ("vocab.json", "tokenizer_config.json", "preprocessor_config.json")
STAMP = "bench_checkpoint.json"


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _save_processor(out: Path, processor_from: Optional[Path]) -> str:
    """Copy the processor of PROCESSOR_FROM into OUT, or write a small phoneme one; return its origin."""
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2PhonemeCTCTokenizer, Wav2Vec2Processor

    if processor_from is not None and all((processor_from / name).is_file() for name in PROCESSOR_FILES):
        Wav2Vec2Processor.from_pretrained(str(processor_from)).save_pretrained(str(out))
        return str(processor_from)
    (out / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(SPECIAL_TOKENS + PHONE_FALLBACK)}))
    tokenizer = Wav2Vec2PhonemeCTCTokenizer(str(out / "vocab.json"), do_phonemize=False)
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                         do_normalize=True, return_attention_mask=True)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(str(out))
    return "built-in phoneme vocabulary"


def write_checkpoint(out: Path, architecture: dict[str, Any], *, seed: int = 0,
                     processor_from: Optional[Path] = None) -> Path:
    """Save a random-weight Wav2Vec2ForCTC of ARCHITECTURE with its processor into OUT (safetensors)."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    origin = _save_processor(out, processor_from)
    vocab = json.loads((out / "vocab.json").read_text(encoding="utf-8"))
    config = Wav2Vec2Config(vocab_size=max(vocab.values()) + 1, pad_token_id=vocab.get("<pad>", 0),
                            **architecture)
    torch.manual_seed(seed)
    model = Wav2Vec2ForCTC(config).eval()
    model.save_pretrained(str(out), safe_serialization=True)
    params = sum(p.numel() for p in model.parameters())
    stamp = {"architecture": architecture, "seed": seed, "processor": origin, "parameters": params}
    (out / STAMP).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    return out


def read_stamp(folder: Path) -> Optional[dict[str, Any]]:
    """The stamp of a checkpoint written by :func:`write_checkpoint`, or None."""
    path = Path(folder) / STAMP
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def ensure_checkpoint(folder: Path, architecture: dict[str, Any], *, seed: int = 0,
                      processor_from: Optional[Path] = None) -> Path:
    """Reuse FOLDER when it holds this architecture and seed, else (re)write it atomically."""
    folder = Path(folder)
    stamp = read_stamp(folder)
    if stamp and stamp.get("architecture") == architecture and stamp.get("seed") == seed:
        return folder
    _log(f"writing a random-weight checkpoint to {folder} (once; reused afterwards)")
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    write_checkpoint(partial, architecture, seed=seed, processor_from=processor_from)
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder


def ensure_xlsr53(cache: Path, processor_from: Optional[Path] = None) -> Path:
    """The xlsr-53-architecture checkpoint under CACHE (about 1.26 GB in fp32), written on first use."""
    return ensure_checkpoint(Path(cache) / "xlsr53-random", XLSR53_ARCHITECTURE, processor_from=processor_from)


def main(argv: Optional[list[str]] = None) -> int:
    """Write (once) the xlsr-53-architecture checkpoint under CACHE and print its stamp."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("cache", nargs="?", type=Path, default=CACHE, help=f"cache folder (default {CACHE})")
    target = ensure_xlsr53(parser.parse_args(argv).cache)
    print(json.dumps(read_stamp(target), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Tiny random Wav2Vec2ForCTC checkpoints with their processors, written into a folder (tests only)."""

from __future__ import annotations

import json
from pathlib import Path

PHONES = ["z", "ih", "r", "ow", "w", "ah", "n", "t", "uw", "th", "iy"]
CHARS = ["|", "E", "H", "L", "O", "W", "R", "D", "Z", "N", "T", "U"]
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]


def build_tiny_model(out: Path, *, norm: str = "layer", vocab: str = "phoneme", seed: int = 0,
                     hidden: int = 32, conv: int = 32, layers: int = 2) -> Path:
    """Save a random Wav2Vec2ForCTC (real conv strides/kernels, tiny widths) and its processor."""
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2PhonemeCTCTokenizer,
        Wav2Vec2Processor,
    )

    out.mkdir(parents=True, exist_ok=True)
    units = PHONES if vocab == "phoneme" else CHARS
    (out / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(SPECIALS + units)}))
    if vocab == "phoneme":
        tokenizer = Wav2Vec2PhonemeCTCTokenizer(str(out / "vocab.json"), do_phonemize=False)
    else:
        tokenizer = Wav2Vec2CTCTokenizer(str(out / "vocab.json"), word_delimiter_token="|")
    layer = norm == "layer"
    extractor = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=layer
    )
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(str(out))
    torch.manual_seed(seed)
    config = Wav2Vec2Config(
        vocab_size=len(SPECIALS) + len(units),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        conv_dim=(conv,) * 7,
        conv_stride=(5, 2, 2, 2, 2, 2, 2),
        conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        conv_bias=layer,
        feat_extract_norm=norm,
        do_stable_layer_norm=layer,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    model = Wav2Vec2ForCTC(config).eval()
    with torch.no_grad():  # sharpen the head so greedy paths emit tokens, not only blanks
        model.lm_head.weight.mul_(8.0)
    model.save_pretrained(str(out), safe_serialization=True)
    return out

"""Tiny random wav2vec2 CTC checkpoints for the export tests (built in a temporary folder, no network)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

PHONEMES = ["<pad>", "<s>", "</s>", "<unk>", "a", "b", "k", "s", "t", "iy", "ow"]
CHARACTERS = ["<pad>", "<s>", "</s>", "<unk>", "|", "a", "b", "c", "d", "e"]
ADDED_TOKEN = "<laugh>"
# The group-norm model has two outputs more than its vocab.json: an added token and a hole.
GROUP_NORM_OUTPUTS = len(CHARACTERS) + 2


def build_checkpoint(folder: Path, layer_norm: bool, seed: int = 0, hidden: int = 32, layers: int = 2) -> Path:
    """Save a random ``Wav2Vec2ForCTC`` with its processor to FOLDER.

    layer_norm=True: xlsr-53 style (layer-norm feature encoder, stable layer norm, attention mask
    returned) with a ``Wav2Vec2PhonemeCTCTokenizer``; False: wav2vec2-base style (group norm, no
    mask) with a character ``Wav2Vec2CTCTokenizer`` whose word delimiter is ``|``.
    """
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2PhonemeCTCTokenizer,
        Wav2Vec2Processor,
    )

    folder.mkdir(parents=True, exist_ok=True)
    vocab = PHONEMES if layer_norm else CHARACTERS
    vocab_file = folder / "vocab.json"
    vocab_file.write_text(json.dumps({token: index for index, token in enumerate(vocab)}), encoding="utf-8")
    if layer_norm:
        tokenizer = Wav2Vec2PhonemeCTCTokenizer(str(vocab_file), do_phonemize=False, word_delimiter_token=None)
        outputs = len(vocab)
    else:
        tokenizer = Wav2Vec2CTCTokenizer(str(vocab_file), word_delimiter_token="|")
        tokenizer.add_tokens([ADDED_TOKEN])
        outputs = GROUP_NORM_OUTPUTS
    extractor = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16_000, padding_value=0.0, do_normalize=True, return_attention_mask=layer_norm
    )
    config = Wav2Vec2Config(
        vocab_size=outputs,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=hidden * 4,
        conv_dim=[16] * 7,
        conv_bias=layer_norm,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        feat_extract_norm="layer" if layer_norm else "group",
        do_stable_layer_norm=layer_norm,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Wav2Vec2ForCTC(config).eval()
    with torch.no_grad():  # a larger CTC head than the random init, so argmax decisions are less of a coin toss
        model.lm_head.weight.mul_(8.0)
    model.save_pretrained(folder)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models gain nothing from threads, and oversubscribed CI cores make torch's thread pool crawl.

    Autouse in every test module that imports it.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

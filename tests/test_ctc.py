"""Greedy CTC decoding: text parity with the Hugging Face tokenizers, spans and confidences."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from phonedge.ctc import CTCDecoder
from phonedge.manifest import TokenizerSpec

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
PHONES = ["z", "ih", "r", "ow", "w", "ah", "n", "t", "uw", "th", "iy"]
CHARS = ["|", "E", "H", "L", "O", "W", "R", "D", "'", "S", ".", "T", "?", ","]


def spec_of(tok) -> TokenizerSpec:
    """Spec from a HF tokenizer's public attributes (as an exporter would write it)."""
    vocab = [tok.convert_ids_to_tokens(i) for i in range(len(tok))]
    return TokenizerSpec(
        kind=type(tok).__name__,
        vocab=vocab,
        blank_id=tok.pad_token_id,
        pad_token=tok.pad_token,
        unk_token=tok.unk_token,
        word_delimiter_token=tok.word_delimiter_token,
        do_lower_case=getattr(tok, "do_lower_case", False),
        clean_up_tokenization_spaces=bool(tok.clean_up_tokenization_spaces),
    )


def random_logits(rng: np.random.Generator, frames: int, classes: int) -> np.ndarray:
    """Logits whose argmax path has runs, blanks and every class."""
    ids = []
    while len(ids) < frames:
        ids += [int(rng.integers(classes)) if rng.random() < 0.6 else 0] * int(rng.integers(1, 4))
    ids = np.array(ids[:frames], dtype=np.int64)
    logits = rng.normal(0, 1, (frames, classes)).astype(np.float32)
    logits[np.arange(frames), ids] += 6.0
    return logits


def make_tokenizer(kind: str, tmp_path: Path, **kwargs):
    transformers = pytest.importorskip("transformers")
    units = PHONES if kind == "phoneme" else CHARS
    vocab = {t: i for i, t in enumerate(SPECIALS + units)}
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps(vocab))
    if kind == "phoneme":
        return transformers.Wav2Vec2PhonemeCTCTokenizer(str(path), do_phonemize=False, **kwargs)
    return transformers.Wav2Vec2CTCTokenizer(str(path), **kwargs)


CASES = [
    ("phoneme", {}),
    ("phoneme", {"word_delimiter_token": "|"}),
    ("char", {}),
    ("char", {"do_lower_case": True}),
    ("char", {"clean_up_tokenization_spaces": True}),
]


@pytest.mark.parametrize("kind,kwargs", CASES)
def test_text_matches_hf_batch_decode(kind: str, kwargs: dict, tmp_path: Path) -> None:
    if kind == "phoneme" and "word_delimiter_token" in kwargs:
        PHONES.append("|")
        try:
            tok = make_tokenizer(kind, tmp_path, **kwargs)
        finally:
            PHONES.remove("|")
    else:
        tok = make_tokenizer(kind, tmp_path, **kwargs)
    spec = spec_of(tok)
    rng = np.random.default_rng(len(spec.vocab) + len(kwargs))
    for extra in (0, 3):  # a model head wider than the vocabulary decodes extra ids as <unk>
        classes = len(spec.vocab) + extra
        decoder = CTCDecoder(spec, classes)
        batch = [random_logits(rng, int(rng.integers(1, 80)), classes) for _ in range(150)]
        ours = [decoder.decode(lg) for lg in batch]
        theirs = tok.batch_decode([lg.argmax(-1).tolist() for lg in batch])
        assert ours == theirs


def test_all_blank_is_empty_text(tmp_path: Path) -> None:
    tok = make_tokenizer("char", tmp_path)
    spec = spec_of(tok)
    logits = np.zeros((10, len(spec.vocab)), np.float32)
    logits[:, 0] = 5
    assert CTCDecoder(spec, len(spec.vocab)).decode(logits) == tok.batch_decode([[0] * 10])[0] == ""


def _spec() -> TokenizerSpec:
    return TokenizerSpec(kind="Wav2Vec2PhonemeCTCTokenizer", vocab=SPECIALS + PHONES, blank_id=0,
                         word_delimiter_token=None)


def test_segments_spans_and_confidences() -> None:
    spec = _spec()
    v = len(spec.vocab)
    path = [0, 4, 4, 0, 0, 5, 6, 6, 6, 0]  # z z _ _ ih r r r _
    probs = np.full((len(path), v), 0.01, dtype=np.float64)
    probs[np.arange(len(path)), path] = 0.9
    probs /= probs.sum(-1, keepdims=True)
    seg = CTCDecoder(spec, v).segments(np.log(probs).astype(np.float32))
    assert seg.ids.tolist() == [4, 5, 6]
    assert seg.start_frames.tolist() == [1, 5, 6]
    assert seg.end_frames.tolist() == [3, 6, 9]
    np.testing.assert_allclose(np.exp(seg.mean_log_probs), probs[1, 4], rtol=1e-5)


def test_repeated_token_split_by_blank_is_two_tokens() -> None:
    spec = _spec()
    logits = np.full((5, len(spec.vocab)), -5.0, np.float32)
    for f, i in enumerate([4, 0, 4, 4, 0]):
        logits[f, i] = 5.0
    dec = CTCDecoder(spec, len(spec.vocab))
    assert dec.decode(logits) == "z z"


def test_transcript_ids_phonemes_and_characters() -> None:
    from phonedge.ctc import transcript_ids
    from phonedge.errors import PhonedgeError

    phon = _spec()
    assert transcript_ids(phon, " z  ih r ow ") == [4, 5, 6, 7]
    chars = TokenizerSpec(kind="Wav2Vec2CTCTokenizer", vocab=SPECIALS + CHARS, blank_id=0, word_delimiter_token="|")
    ids = transcript_ids(chars, "HE  LO")
    assert [chars.vocab[i] for i in ids] == ["H", "E", "|", "L", "O"]
    with pytest.raises(PhonedgeError, match="'q' is not in the model's vocabulary"):
        transcript_ids(phon, "z q")

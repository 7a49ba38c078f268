"""Greedy CTC decoding in numpy, with text identical to the Hugging Face tokenizers' ``batch_decode``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .errors import UnknownUnitError
from .manifest import TokenizerSpec

# PreTrainedTokenizerBase.clean_up_tokenization: the replacements, in order.
_CLEAN_UP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
             (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


@dataclass(frozen=True)
class Segments:
    """The collapsed greedy path: one entry per emitted token, blanks and repeats removed."""

    ids: NDArray[np.int64]
    start_frames: NDArray[np.int64]
    end_frames: NDArray[np.int64]
    mean_log_probs: NDArray[np.float32]


class CTCDecoder:
    """Greedy decoder for one tokenizer spec and one logits width."""

    def __init__(self, spec: TokenizerSpec, num_classes: int) -> None:
        """Precompute token strings, their grouping keys and the blank mask."""
        self.spec = spec
        # Ids past the vocabulary decode as the unknown token, as the tokenizers' id lookup does.
        self.tokens = list(spec.vocab[:num_classes]) + [spec.unk_token] * max(0, num_classes - len(spec.vocab))
        first: dict[str, int] = {}
        # Tokenizers group runs by token string, so ids sharing a string share a key.
        self._key = np.array([first.setdefault(t, i) for i, t in enumerate(self.tokens)], dtype=np.int64)
        self._is_pad = np.array([t == spec.pad_token for t in self.tokens], dtype=bool)

    def segments(self, log_probs: NDArray[np.float32]) -> Segments:
        """Argmax per frame, merge runs of one token, drop the blank (pad) runs; keep frame spans."""
        best = log_probs.argmax(axis=-1).astype(np.int64)
        if best.size == 0:
            none = np.zeros(0, dtype=np.int64)
            return Segments(none, none, none, np.zeros(0, dtype=np.float32))
        keys = self._key[best]
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        ends = np.append(starts[1:], len(best))
        frame_lp = np.take_along_axis(log_probs, best[:, None], axis=-1)[:, 0]
        mean_lp = np.add.reduceat(frame_lp, starts) / (ends - starts)
        keep = ~self._is_pad[keys[starts]]
        return Segments(best[starts][keep], starts[keep], ends[keep], mean_lp[keep].astype(np.float32))

    def token_text(self, ids: NDArray[np.int64]) -> list[str]:
        """The token string of each id."""
        return [self.tokens[int(i)] for i in ids]

    def text(self, ids: NDArray[np.int64]) -> str:
        """The transcript of collapsed, blank-free ids, formatted as the tokenizer's decode does."""
        spec = self.spec
        tokens = self.token_text(ids)
        if spec.kind == "Wav2Vec2PhonemeCTCTokenizer":
            if spec.word_delimiter_token is not None:
                tokens = [t for t in tokens if t != spec.word_delimiter_token]
            text = " ".join(tokens).strip()
        else:
            text = "".join(" " if t == spec.word_delimiter_token else t for t in tokens).strip()
            if spec.do_lower_case:
                text = text.lower()
        if spec.clean_up_tokenization_spaces:
            for old, new in _CLEAN_UP:
                text = text.replace(old, new)
        return text

    def decode(self, logits: NDArray[np.floating]) -> str:
        """Greedy transcript of one utterance's logits of shape (frames, classes)."""
        return self.text(self.segments(np.asarray(logits)).ids)


def transcript_units(spec: TokenizerSpec, transcript: str) -> list[str]:
    """A reference transcript as vocabulary units: phonemes by whitespace, else characters (spaces as delimiter)."""
    if spec.kind == "Wav2Vec2PhonemeCTCTokenizer":
        return transcript.split()
    delimiter = spec.word_delimiter_token or " "
    return [delimiter if c == " " else c for c in " ".join(transcript.split())]


def transcript_ids(spec: TokenizerSpec, transcript: str) -> list[int]:
    """Token ids of a reference transcript (the first id of each unit, as the tokenizer encodes it)."""
    first: dict[str, int] = {}
    for index, token in enumerate(spec.vocab):
        first.setdefault(token, index)
    ids = []
    for unit in transcript_units(spec, transcript):
        if unit not in first:
            raise UnknownUnitError(f"transcript {transcript!r}: unit {unit!r} is not in the model's vocabulary")
        ids.append(first[unit])
    return ids

"""Train the reference wav2vec2 CTC phoneme model from scratch on FSDD (a one-off; CI never runs it).

The model belongs to the xlsr-53 family (layer-norm conv feature encoder, ``do_stable_layer_norm``,
the same conv kernels and strides, so 20 ms frames at 16 kHz), scaled down to train on two CPU
cores. It learns the phonemes of all ten digits from the training split (index 5-49) and is
evaluated on the digits 0-3 of the test split (index 0-4), the four classes of the model card.

Usage (from the repository root): python -m reference.train_reference --out reference/model [--epochs N] [--seed S]

The committed reference/model was trained when this script resampled at soxr's default quality
("HQ"); it now reads audio through phonedge.audio.prepare_audio ("VHQ", as inference does), so a
retrained model would differ slightly from the committed one.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>"]
CLASS_DIGITS = (0, 1, 2, 3)


def read_lexicon(path: Path) -> dict[int, tuple[str, str]]:
    """Digit -> (word, space-separated phonemes) from the FSDD lexicon."""
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:] if line.strip()]
    return {int(d): (w, p) for d, w, p in rows}


def list_clips(recordings: Path, test: bool, digits: tuple[int, ...]) -> list[tuple[Path, int]]:
    """FSDD clips of the official split (index 0-4 test, 5-49 train) for the given digits."""
    clips = []
    for wav in sorted(recordings.glob("*.wav")):
        digit, _speaker, index = wav.stem.split("_")
        if int(digit) in digits and (int(index) < 5) == test:
            clips.append((wav, int(digit)))
    return clips


def load_16k(path: Path) -> np.ndarray:
    """Read an 8 kHz FSDD clip as mono float32 at 16 kHz exactly as the runtime reads audio (same soxr quality)."""
    from phonedge.audio import prepare_audio

    return prepare_audio(path, None, SAMPLE_RATE, 1)


def perturb(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Speed, gain and noise perturbation plus a random shift of leading/trailing silence."""
    import soxr

    speed = rng.uniform(0.85, 1.15)
    out = soxr.resample(audio, SAMPLE_RATE, SAMPLE_RATE / speed).astype(np.float32)
    out = out * np.float32(10 ** (rng.uniform(-12, 6) / 20))
    pad_l, pad_r = rng.integers(0, 1600, size=2)
    out = np.concatenate([np.zeros(pad_l, np.float32), out, np.zeros(pad_r, np.float32)])
    snr_db = rng.uniform(10, 40)
    power = float(np.mean(out**2)) + 1e-10
    out = out + rng.normal(0, math.sqrt(power / 10 ** (snr_db / 10)), out.shape).astype(np.float32)
    return out


def build_processor(out: Path, phonemes: list[str]):
    """Write vocab, tokenizer and feature extractor into ``out`` and return the processor."""
    from transformers import (
        Wav2Vec2FeatureExtractor,
        Wav2Vec2PhonemeCTCTokenizer,
        Wav2Vec2Processor,
    )

    out.mkdir(parents=True, exist_ok=True)
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + phonemes)}
    (out / "vocab.json").write_text(json.dumps(vocab, indent=1))
    tokenizer = Wav2Vec2PhonemeCTCTokenizer(str(out / "vocab.json"), do_phonemize=False)
    extractor = Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=SAMPLE_RATE,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=True,
    )
    processor = Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer)
    processor.save_pretrained(str(out))
    return processor


# The training run's regularisation: dropouts, LayerDrop and SpecAugment-style time/feature masking.
REGULARISATION = dict(hidden_dropout=0.1, attention_dropout=0.1, activation_dropout=0.05, feat_proj_dropout=0.05,
                      final_dropout=0.05, layerdrop=0.05, mask_time_prob=0.08, mask_time_length=2,
                      mask_feature_prob=0.05, mask_feature_length=8)


def build_model(vocab_size: int, args: argparse.Namespace):
    """A small Wav2Vec2ForCTC with the xlsr-53 feature-encoder layout."""
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    config = Wav2Vec2Config(
        vocab_size=vocab_size,
        hidden_size=args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=4,
        intermediate_size=args.hidden * 4,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        conv_dim=(args.conv,) * 7,
        conv_stride=(5, 2, 2, 2, 2, 2, 2),
        conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        conv_bias=True,
        num_conv_pos_embeddings=32,
        num_conv_pos_embedding_groups=16,
        **REGULARISATION,
        ctc_loss_reduction="mean",
        ctc_zero_infinity=True,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    return Wav2Vec2ForCTC(config)


def batches(items: list, batch_size: int, rng: random.Random) -> list[list]:
    """Length-bucketed shuffled batches (similar lengths together keep padding small)."""
    order = sorted(range(len(items)), key=lambda i: len(items[i][0]) + rng.random() * 2000)
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(chunks)
    return chunks


def evaluate(model, processor, test: list, targets: dict[int, list[int]], torch) -> dict:
    """Exact-transcript rate and CTC-scoring class accuracy on the test clips."""
    model.eval()
    exact = correct = 0
    with torch.no_grad():
        for audio, digit, text in test:
            feats = processor.feature_extractor(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt")
            logits = model(feats.input_values, attention_mask=feats.attention_mask).logits
            pred = processor.batch_decode(logits.argmax(-1))[0]
            exact += pred == text
            logp = logits.log_softmax(-1).transpose(0, 1)
            scores = {}
            for cls, tgt in targets.items():
                loss = torch.nn.functional.ctc_loss(
                    logp, torch.tensor([tgt]), torch.tensor([logp.shape[0]]),
                    torch.tensor([len(tgt)]), blank=0, reduction="sum",
                )
                scores[cls] = -float(loss)
            correct += max(scores, key=scores.get) == digit
    model.train()
    return {"exact": exact / len(test), "accuracy": correct / len(test)}


def main() -> None:
    """Train, evaluate each epoch, and save the best checkpoint with its processor."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fsdd", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "fsdd")
    parser.add_argument("--out", type=Path, default=Path("reference/model"))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--hidden", type=int, default=144)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--conv", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-minutes", type=float, default=45.0)
    args = parser.parse_args()

    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng_np = np.random.default_rng(args.seed)
    rng_py = random.Random(args.seed)

    lexicon = read_lexicon(args.fsdd / "lexicon.tsv")
    phonemes = sorted({p for _w, phones in lexicon.values() for p in phones.split()})
    processor = build_processor(args.out, phonemes)
    tok = processor.tokenizer
    targets = {d: tok(lexicon[d][1]).input_ids for d in lexicon}

    train = [(load_16k(p), d) for p, d in list_clips(args.fsdd / "recordings", False, tuple(range(10)))]
    test = [(load_16k(p), d, lexicon[d][1]) for p, d in list_clips(args.fsdd / "recordings", True, CLASS_DIGITS)]
    print(f"train clips {len(train)}, test clips {len(test)}, vocab {len(tok)}", flush=True)

    model = build_model(len(tok), args)
    print(f"parameters {sum(p.numel() for p in model.parameters()):,}", flush=True)
    steps_per_epoch = math.ceil(len(train) / args.batch_size)
    optim = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        optim, max_lr=args.lr, total_steps=steps_per_epoch * args.epochs, pct_start=0.15
    )
    extractor = processor.feature_extractor
    start = time.time()
    history = []
    for epoch in range(1, args.epochs + 1):
        model.train()
        total = 0.0
        for idx in batches(train, args.batch_size, rng_py):
            audios = [perturb(train[i][0], rng_np) for i in idx]
            feats = extractor(audios, sampling_rate=SAMPLE_RATE, padding=True, return_tensors="pt")
            labels = [targets[train[i][1]] for i in idx]
            width = max(map(len, labels))
            label_t = torch.full((len(labels), width), -100, dtype=torch.long)
            for row, lab in enumerate(labels):
                label_t[row, : len(lab)] = torch.tensor(lab)
            out = model(feats.input_values, attention_mask=feats.attention_mask, labels=label_t)
            optim.zero_grad()
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optim.step()
            sched.step()
            total += float(out.loss)
        scores = evaluate(model, processor, test, {d: targets[d] for d in CLASS_DIGITS}, torch)
        minutes = (time.time() - start) / 60
        row = {"epoch": epoch, "loss": round(total / steps_per_epoch, 4), **scores, "minutes": round(minutes, 2)}
        history.append(row)
        print(json.dumps(row), flush=True)
        # The last epoch is kept, never the best test epoch: choosing on the test split would flatter it.
        model.save_pretrained(str(args.out), safe_serialization=True)
        log = {"args": {k: str(v) for k, v in vars(args).items()}, "history": history}
        (args.out / "training_log.json").write_text(json.dumps(log, indent=1))
        if minutes > args.max_minutes:
            print("time budget reached", flush=True)
            break


if __name__ == "__main__":
    main()

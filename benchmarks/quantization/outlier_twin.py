"""Outlier twins: a checkpoint with planted outlier features and the same float function.

Real fine-tuned wav2vec2-large checkpoints carry a few hidden channels tens to hundreds of times
larger than the rest; the models trained here do not. A twin scales a few output channels of
chosen LayerNorms (gain and bias) by MAGNITUDE and divides the matching input columns of the
Linear layers reading them (phonedge_export.outliers), so its PyTorch logits equal the original's
while per-tensor int8 activation scales break on it, as they would on a real checkpoint.

    python -m benchmarks.quantization.outlier_twin reference/model /tmp/twin --places attention,feed_forward \
        --magnitude 100
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any, Sequence



PLACES = ("projection", "attention", "feed_forward", "head")
STAMP = "outlier_twin.json"
PROCESSOR_FILES = (
    "vocab.json", "tokenizer_config.json", "special_tokens_map.json", "preprocessor_config.json", "added_tokens.json"
)


def plant_outliers(
    model: Any, places: Sequence[str], magnitude: float, channels: int = 2, seed: int = 0
) -> list[dict[str, Any]]:
    """Scale CHANNELS output channels of every LayerNorm site at PLACES by MAGNITUDE, in place; return the record.

    The same channel indices are used at every site of one width, as in real models, where an
    outlier is a dimension of the residual stream.
    """
    import torch
    from phonedge_export.outliers import norm_sites, rescale_channels

    unknown = sorted(set(places) - set(PLACES))
    if unknown:
        raise ValueError(f"unknown place(s) {unknown}; use {', '.join(PLACES)}")
    generator = torch.Generator().manual_seed(seed)
    chosen: dict[int, list[int]] = {}
    record = []
    for site in norm_sites(model):
        if site.kind not in places:
            continue
        width = model.get_submodule(site.norm).weight.numel()
        if width not in chosen:
            chosen[width] = sorted(torch.randperm(width, generator=generator)[:channels].tolist())
        scales = torch.ones(width, dtype=torch.float64)
        scales[chosen[width]] = float(magnitude)
        rescale_channels(model, site, scales)
        record.append({"norm": site.norm, "readers": list(site.readers), "channels": chosen[width]})
    if not record:
        raise ValueError(f"this model has no LayerNorm site at {', '.join(places)}")
    return record


def write_twin(
    source: Path, out: Path, places: Sequence[str], magnitude: float, channels: int = 2, seed: int = 0
) -> Path:
    """Save the outlier twin of the checkpoint at SOURCE (weights, config and processor files) to OUT."""
    from transformers import Wav2Vec2ForCTC

    model = Wav2Vec2ForCTC.from_pretrained(str(source)).eval()
    record = plant_outliers(model, places, magnitude, channels, seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    for name in PROCESSOR_FILES:
        if (Path(source) / name).is_file():
            shutil.copyfile(Path(source) / name, out / name)
    stamp = {"source": str(source), "places": list(places), "magnitude": magnitude, "sites": record}
    (out / STAMP).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: build one twin."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--places", default="attention,feed_forward", help=f"comma-separated: {', '.join(PLACES)}")
    parser.add_argument("--magnitude", type=float, default=100.0)
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    write_twin(args.source, args.out, args.places.split(","), args.magnitude, args.channels, args.seed)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Where a wav2vec2 LayerNorm's output channels can be rescaled without changing the model's function.

A LayerNorm whose output is read only by Linear layers (through nothing but dropout) can scale
output channel j by s_j (gain and bias) while those Linears divide their input column j by s_j:
every product x_j * w_ij is unchanged, so the float function is too (up to rounding). Fine-tuned
transformers reach such states on their own (outlier features: a few channels tens to hundreds of
times larger than the rest), which ruins per-tensor int8 activation scales. The same identity
serves both directions: :func:`rescale_channels` plants outliers into a test twin, and the
exporter's smoothing (``smoothquant.py``) moves them back into the weights before quantizing.

In a stable-layer-norm (pre-LN, xlsr-53 style) wav2vec2 the sites are: the feature projection's
LayerNorm (read by its projection), each layer's attention LayerNorm (read by q, k and v), each
layer's final LayerNorm (read by the feed-forward's first Linear), and the encoder's last
LayerNorm (read by the CTC head, unless an adapter sits between). In a post-LN model only the
feature projection's qualifies: the others also feed a residual sum. A LayerNorm followed by a
nonlinearity (the conv feature encoder's) cannot be rescaled this way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence


@dataclass(frozen=True)
class Site:
    """A LayerNorm (module path) and the Linear layers (module paths) that alone read its output."""

    norm: str
    readers: tuple[str, ...]

    @property
    def kind(self) -> str:
        """A short name of the site's place: projection, attention, feed_forward or head."""
        if self.norm.endswith("feature_projection.layer_norm"):
            return "projection"
        if self.norm.endswith("final_layer_norm"):
            return "feed_forward"
        if ".layers." in self.norm:
            return "attention"
        return "head"


def norm_sites(model: Any) -> list[Site]:
    """The rescalable LayerNorm sites of a ``Wav2Vec2ForCTC`` MODEL, in the order the model runs them."""
    sites = [Site("wav2vec2.feature_projection.layer_norm", ("wav2vec2.feature_projection.projection",))]
    if not getattr(model.config, "do_stable_layer_norm", False):
        return sites
    for index in range(len(model.wav2vec2.encoder.layers)):
        prefix = f"wav2vec2.encoder.layers.{index}"
        attention = f"{prefix}.attention"
        sites.append(Site(f"{prefix}.layer_norm", tuple(f"{attention}.{p}" for p in ("q_proj", "k_proj", "v_proj"))))
        sites.append(Site(f"{prefix}.final_layer_norm", (f"{prefix}.feed_forward.intermediate_dense",)))
    if getattr(model.wav2vec2, "adapter", None) is None:
        sites.append(Site("wav2vec2.encoder.layer_norm", ("lm_head",)))
    return sites


def rescale_channels(model: Any, site: Site, scales: Sequence[float] | Any) -> None:
    """Multiply SITE's LayerNorm output channels by SCALES and divide its readers' input columns by them.

    The model computes the same function afterwards (up to float rounding). Scales must be positive.
    """
    import torch

    norm = model.get_submodule(site.norm)
    s = torch.as_tensor(scales, dtype=torch.float64)
    if s.shape != norm.weight.shape or not bool((s > 0).all()):
        raise ValueError(f"{site.norm}: need {tuple(norm.weight.shape)} positive scales, got shape {tuple(s.shape)}")
    with torch.no_grad():
        norm.weight.copy_((norm.weight.double() * s).to(norm.weight.dtype))
        if norm.bias is not None:
            norm.bias.copy_((norm.bias.double() * s).to(norm.bias.dtype))
        for name in site.readers:
            linear = model.get_submodule(name)
            linear.weight.copy_((linear.weight.double() / s).to(linear.weight.dtype))


def linear_node_name(module_path: str) -> str:
    """The name the ONNX export gives the MatMul of the Linear at MODULE_PATH (list indices keep their dot)."""
    return "/" + re.sub(r"\.(?!\d)", "/", module_path) + "/MatMul"

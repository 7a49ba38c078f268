"""Measure each Linear's quantization error on calibration audio, and migrate LayerNorm outliers into weights.

Dynamic int8 gives each activation tensor one scale, so a LayerNorm output with a few channels
tens of times larger than the rest (outlier features) leaves the other channels a few levels.
SmoothQuant (Xiao et al., 2023) divides such a channel j by s_j = a_j^alpha / w_j^(1 - alpha)
(a_j: the channel's largest calibration activation, w_j: the largest weight reading it) and
multiplies the weights reading it by s_j; the float function is unchanged (``outliers.py``).

Here the decision is measured rather than assumed: a first pass over calibration audio takes
each site's channel maxima; a second pass simulates the bundle's quantization (uint8 per-tensor
activations, the mode's weight form) on every Linear's real input, and a site is migrated only
where that lowers its readers' squared output error. The same pass yields every Linear's relative
error, which ranks the MatMuls for keeping some in float (``mixed_precision.py``).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from .outliers import Site, linear_node_name, norm_sites, rescale_channels

ALPHAS = (0.5, 0.75)
MAX_SECONDS = 20.0  # calibration audio run through the model for the statistics (one concatenated input)

WeightQuantizer = Callable[[Any], Any]  # torch (out, in) weight -> its dequantized quantized form


def fake_quantize_activation(x: Any) -> Any:
    """X after ONNX Runtime's dynamic uint8 quantization: one asymmetric scale for the whole tensor."""
    import torch

    low = torch.clamp(x.min(), max=0.0)
    high = torch.clamp(x.max(), min=0.0)
    scale = torch.clamp((high - low) / 255.0, min=1e-12)
    zero = torch.round(-low / scale)
    return (torch.clamp(torch.round(x / scale) + zero, 0, 255) - zero) * scale


def int8_weight(weight: Any) -> Any:
    """WEIGHT (out, in) after symmetric int8 quantization per output channel (ONNX Runtime's QInt8)."""
    import torch

    scale = torch.clamp(weight.abs().amax(dim=1, keepdim=True) / 127.0, min=1e-12)
    return torch.clamp(torch.round(weight / scale), -127, 127) * scale


def int4_weight(weight: Any) -> Any:
    """WEIGHT (out, in) after the 4-bit block form of ``int4.py``."""
    import torch

    from .int4 import fake_quantize_int4

    return torch.from_numpy(fake_quantize_int4(weight.detach().double().numpy().T.astype(np.float32)).T.copy())


WEIGHT_QUANTIZERS: dict[str, WeightQuantizer] = {"int8": int8_weight, "int4": int4_weight}


@dataclass
class Analysis:
    """What the calibration passes measured and decided."""

    scales: dict[str, Any] = field(default_factory=dict)  # site norm -> migration scales (activation / s)
    sites: list[dict[str, Any]] = field(default_factory=list)  # per site: channel spread, errors, decision
    linear_errors: dict[str, float] = field(default_factory=dict)  # ONNX MatMul name -> relative output error
    seconds: float = 0.0

    def ranking(self) -> list[str]:
        """ONNX MatMul node names, largest measured quantization error first."""
        return sorted(self.linear_errors, key=lambda name: -self.linear_errors[name])

    def record(self) -> dict[str, Any]:
        """The manifest's account of the smoothing."""
        return {
            "method": "smoothquant",
            "calibration_seconds": round(self.seconds, 2),
            "migrated_sites": sum(1 for site in self.sites if site["migrated"]),
            "sites": self.sites,
        }


def calibration_input(inputs: Sequence[NDArray[np.float32]], sample_rate: int) -> NDArray[np.float32]:
    """The calibration signals end to end, up to MAX_SECONDS."""
    limit = int(MAX_SECONDS * sample_rate)
    pieces, total = [], 0
    for x in inputs:
        pieces.append(x[: limit - total])
        total += len(pieces[-1])
        if total >= limit:
            break
    return np.concatenate(pieces).astype(np.float32)


def analyse(
    model: Any,
    inputs: Sequence[NDArray[np.float32]],
    mode: str,
    sample_rate: int,
    smoothing: bool = True,
) -> Analysis:
    """Measure MODEL on the calibration INPUTS for quantization MODE ("int8" or "int4"): see the module doc."""
    import torch

    quantize_weight = WEIGHT_QUANTIZERS[mode]
    signal = torch.from_numpy(calibration_input(inputs, sample_rate))[None]
    sites = norm_sites(model) if smoothing else []
    maxima = _channel_maxima(model, sites, signal)
    candidates: dict[str, dict[float, Any]] = {}
    for site in sites:
        weight_max = torch.stack(
            [model.get_submodule(r).weight.detach().abs().amax(dim=0) for r in site.readers]
        ).amax(dim=0)
        weight_max = weight_max.double()
        activation = maxima[site.norm].double().clamp(min=1e-5)
        candidates[site.norm] = {
            alpha: _normalised(activation.pow(alpha) / weight_max.clamp(min=1e-5).pow(1 - alpha)) for alpha in ALPHAS
        }
    reader_site = {reader: site for site in sites for reader in site.readers}
    errors: dict[str, dict[float | None, list[float]]] = {}

    def hook(name: str) -> Callable[..., None]:
        def measure(module: Any, args: tuple[Any, ...], _output: Any) -> None:
            x = args[0].detach().reshape(-1, args[0].shape[-1]).float()
            w = module.weight.detach().float()
            exact = x @ w.T
            variants: dict[float | None, Any] = {None: None}
            if name in reader_site:
                variants.update(candidates[reader_site[name].norm].items())
            for alpha, s in variants.items():
                xs, ws = (x, w) if s is None else (x / s.float(), w * s.float())
                got = fake_quantize_activation(xs) @ quantize_weight(ws).float().T
                squared = [float(((got - exact).double() ** 2).sum()), float((exact.double() ** 2).sum())]
                errors.setdefault(name, {})[alpha] = squared

        return measure

    linears = [name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)]
    _forward_with_hooks(model, signal, {name: hook(name) for name in linears})

    analysis = Analysis(seconds=signal.shape[1] / sample_rate)
    chosen: dict[str, float | None] = {}
    for site in sites:
        total = {
            alpha: sum(errors[r][alpha][0] for r in site.readers) for alpha in [None, *candidates[site.norm]]
        }
        best = min(total, key=lambda alpha: total[alpha])
        for reader in site.readers:
            chosen[reader] = best
        spread = maxima[site.norm]
        analysis.sites.append({
            "norm": site.norm,
            "max_over_median_channel": round(float(spread.max() / spread.median().clamp(min=1e-12)), 2),
            "error_plain": _relative(total[None], site, errors, None),
            "error_migrated": min(_relative(total[a], site, errors, a) for a in candidates[site.norm]),
            "migrated": best is not None,
            "alpha": best,
        })
        if best is not None:
            analysis.scales[site.norm] = candidates[site.norm][best]

    for name in linears:
        err, ref = errors[name][chosen.get(name)]
        analysis.linear_errors[linear_node_name(name)] = float(np.sqrt(err / max(ref, 1e-30)))
    return analysis


@contextmanager
def migrated(model: Any, analysis: Analysis | None) -> Iterator[None]:
    """MODEL with ANALYSIS's migrations applied (activations / s, weights * s), undone afterwards."""
    sites = {site.norm: site for site in norm_sites(model)}
    applied: list[tuple[Site, Any]] = []
    try:
        for norm, scales in (analysis.scales if analysis else {}).items():
            rescale_channels(model, sites[norm], 1.0 / scales)
            applied.append((sites[norm], scales))
        yield
    finally:
        for site, scales in reversed(applied):
            rescale_channels(model, site, scales)


def _channel_maxima(model: Any, sites: Sequence[Site], signal: Any) -> dict[str, Any]:
    """Each site's largest absolute output per channel on SIGNAL."""
    maxima: dict[str, Any] = {}
    if not sites:
        return maxima

    def hook(name: str) -> Callable[..., None]:
        def record(_module: Any, _args: Any, output: Any) -> None:
            maxima[name] = output.detach().abs().reshape(-1, output.shape[-1]).amax(dim=0)

        return record

    _forward_with_hooks(model, signal, {site.norm: hook(site.norm) for site in sites})
    return maxima


def _forward_with_hooks(model: Any, signal: Any, hooks: dict[str, Callable[..., None]]) -> None:
    """One forward pass of MODEL on SIGNAL with a forward hook on each named submodule, removed after."""
    import torch

    handles = [model.get_submodule(name).register_forward_hook(fn) for name, fn in hooks.items()]
    try:
        with torch.inference_mode():
            model(signal)
    finally:
        for handle in handles:
            handle.remove()


def _normalised(scales: Any) -> Any:
    """SCALES divided by their geometric mean: only their ratios matter to per-tensor and per-channel scales."""
    return scales / scales.log().mean().exp()


def _relative(total: float, site: Site, errors: dict[str, Any], alpha: float | None) -> float:
    reference = sum(errors[r][alpha][1] for r in site.readers)
    return round(float(np.sqrt(total / max(reference, 1e-30))), 6)

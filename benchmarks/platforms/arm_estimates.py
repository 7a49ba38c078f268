"""Speed on ARM, on paper: latency estimates from the model's MAC counts and published core figures.

No ARM device was measured. For each device, peak int8 and float32 multiply-accumulates per second
are derived from documented facts: how many MACs one instruction does (Arm's instruction set: SDOT
on 128 bits = 16 int8 MACs, SMMLA on 128 bits = 32, FMLA on 128 bits = 4 float32), how many vector
pipes a core has, its clock and its core count (each figure's source is in SOURCES). The model's
MACs come from benchmarks/common/macs.py, as the compute floor counts them (the split phonedge's int8
bundle runs: int8 MatMuls, float32 for the first conv, the positional conv and the attention scores).
The bound is MACs / peak rate (no graph can be faster); the estimate divides the peak by two
efficiencies: ONNX Runtime's int8 GEMM reaching KERNEL_SHARE_OF_PEAK of the peak (an assumption) and
the whole model reaching RUNTIME_SHARE_OF_FLOOR of that kernel floor (measured on x86: 65-77%,
benchmarks/RESULTS.md).
Memory bandwidth, caches and thermal throttling are not modelled.

Usage: python -m benchmarks.platforms.arm_estimates [--format markdown|json] [--seconds 1 3 10]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from benchmarks.common.macs import lower_bound_s, model_macs
from benchmarks.common.paths import REPO as ROOT
from benchmarks.common.xlsr53 import XLSR53_ARCHITECTURE

REFERENCE_CONFIG = ROOT / "reference" / "model" / "config.json"
KERNEL_SHARE_OF_PEAK = 0.6  # assumption: int8 GEMM kernels at the model's shapes reach 60% of the paper peak
RUNTIME_SHARE_OF_FLOOR = 0.7  # measured on x86: phonedge int8 reached 65-77% of the measured-kernel floor
# MACs one 128-bit instruction does (Arm A64 instruction set reference, SOURCES["isa"]).
SDOT_MACS = 16  # 4 lanes x 4-way int8 dot product
SMMLA_MACS = 32  # (2x8 int8) x (8x2 int8) -> 2x2 int32
FMLA_F32_MACS = 4  # 4 float32 lanes

SOURCES = {
    "isa": "Arm A64 instruction set: SDOT/UDOT (vector), SMMLA, FMLA (developer.arm.com, ddi0602)",
    "a76": "Arm Cortex-A76 Software Optimization Guide (PJDOC-466751330-7215): two 128-bit ASIMD pipes V0/V1",
    "n1": "Neoverse N1 is the infrastructure twin of Cortex-A76 (WikiChip; fuse.wikichip.org/news/4564)",
    "v1": "Arm community blog 'Neoverse V1 platform: a new performance tier' and AnandTech 16640: "
          "2x256-bit SVE (4x128-bit NEON) pipes, bf16 and int8 matrix multiply; WikiChip: 256 int8 ops/cycle",
    "v2": "Chips and Cheese, 'Arm's Neoverse V2, in AWS's Graviton 4' (2024): four 128-bit vector pipes, 2.8 GHz",
    "pi5": "Raspberry Pi 5 product brief: Broadcom BCM2712, quad-core Cortex-A76 at 2.4 GHz",
    "graviton2": "AWS Graviton2: Neoverse N1 at 2.5 GHz (AWS EC2 M6g/C6g documentation)",
    "graviton3": "AWS Graviton3: Neoverse V1 at 2.6 GHz (AWS EC2 C7g documentation)",
    "m1": "Apple M1: 4 Firestorm performance cores at 3.2 GHz (Apple; Wikipedia 'Apple M1'), "
          "4x128-bit NEON pipes, Armv8.5 with the dot product and without i8mm (AnandTech 16226)",
}


@dataclass(frozen=True)
class Core:
    """An ARM core's peak MACs per cycle, from its vector pipes and the int8 instruction it has."""

    name: str
    int8_instruction: str
    pipes_128bit: int
    sources: tuple[str, ...]

    @property
    def int8_macs_per_cycle(self) -> int:
        """Peak int8 MACs per cycle: pipes x MACs of one 128-bit int8 instruction."""
        return self.pipes_128bit * {"sdot": SDOT_MACS, "smmla": SMMLA_MACS}[self.int8_instruction]

    @property
    def fp32_macs_per_cycle(self) -> int:
        """Peak float32 MACs per cycle: pipes x 4 lanes."""
        return self.pipes_128bit * FMLA_F32_MACS


@dataclass(frozen=True)
class Device:
    """A device or instance: a core, how many of them ONNX Runtime's threads use, and their clock."""

    name: str
    core: Core
    cores: int
    ghz: float
    sources: tuple[str, ...]

    def peak_rates(self) -> dict[str, float]:
        """Peak MACs per second of int8 and float32 work on all cores."""
        hz = self.ghz * 1e9 * self.cores
        return {"int8": self.core.int8_macs_per_cycle * hz, "float32": self.core.fp32_macs_per_cycle * hz}


A76 = Core("Cortex-A76", "sdot", 2, ("a76", "isa"))
N1 = Core("Neoverse N1", "sdot", 2, ("n1", "a76", "isa"))
V1 = Core("Neoverse V1", "smmla", 4, ("v1", "isa"))
V2 = Core("Neoverse V2", "smmla", 4, ("v2", "isa"))
FIRESTORM = Core("Apple Firestorm (M1)", "sdot", 4, ("m1", "isa"))

DEVICES = (
    Device("Raspberry Pi 5 (4x Cortex-A76, 2.4 GHz)", A76, 4, 2.4, ("pi5",)),
    Device("AWS Graviton2, 4 vCPUs (Neoverse N1, 2.5 GHz)", N1, 4, 2.5, ("graviton2",)),
    Device("AWS Graviton3, 4 vCPUs (Neoverse V1, 2.6 GHz)", V1, 4, 2.6, ("graviton3",)),
    Device("AWS Graviton4, 4 vCPUs (Neoverse V2, 2.8 GHz)", V2, 4, 2.8, ("v2",)),
    Device("Apple M1, 4 performance cores (3.2 GHz)", FIRESTORM, 4, 3.2, ("m1",)),
)


def reference_config() -> dict[str, Any]:
    """The committed reference model's config."""
    return json.loads(REFERENCE_CONFIG.read_text(encoding="utf-8"))


def estimate(config: dict[str, Any], device: Device, seconds: float) -> dict[str, float]:
    """Bound and expected latency of the int8 bundle of CONFIG on DEVICE for SECONDS of audio."""
    macs = model_macs(config, seconds)
    bound = lower_bound_s(macs, device.peak_rates())["phonedge_split_s"]
    expected = bound / (KERNEL_SHARE_OF_PEAK * RUNTIME_SHARE_OF_FLOOR)
    return {"bound_s": bound, "expected_s": expected, "expected_rtf": expected / seconds}


def table(seconds: Sequence[float] = (1.0, 3.0, 10.0), models: Optional[dict[str, dict[str, Any]]] = None,
          ) -> dict[str, Any]:
    """Every device x model x length, with the peak rates and the sources used."""
    models = models or {"reference": reference_config(), "xlsr-53 size": dict(XLSR53_ARCHITECTURE)}
    rows = []
    for device in DEVICES:
        rates = device.peak_rates()
        for model, config in models.items():
            per_length = {f"{s:g}s": estimate(config, device, s) for s in seconds}
            rows.append({"device": device.name, "core": device.core.name, "model": model,
                         "int8_gmacs": rates["int8"] / 1e9, "fp32_gmacs": rates["float32"] / 1e9,
                         "lengths": per_length,
                         "real_time": all(v["expected_rtf"] < 1.0 for v in per_length.values()),
                         "sources": [SOURCES[k] for k in (*device.sources, *device.core.sources)]})
    return {"assumptions": {"kernel_share_of_peak": KERNEL_SHARE_OF_PEAK,
                            "runtime_share_of_floor": RUNTIME_SHARE_OF_FLOOR},
            "rows": rows}


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.1f}" if ms < 10 else f"{ms:,.0f}"


def markdown(result: dict[str, Any]) -> list[str]:
    """The estimates as a Markdown table: expected latency (bound) per length, and real time or not."""
    lengths = list(result["rows"][0]["lengths"]) if result["rows"] else []
    head = ["device", "peak int8 / fp32 GMAC/s", "model"] + [f"{k} of audio: expected (bound)" for k in lengths]
    head.append("real time (expected RTF < 1)")
    lines = ["| " + " | ".join(head) + " |", "|---|---:|---|" + "---:|" * len(lengths) + "---|"]
    for row in result["rows"]:
        cells = [row["device"], f"{row['int8_gmacs']:,.0f} / {row['fp32_gmacs']:,.0f}", row["model"]]
        cells += [f"{_ms(v['expected_s'])} ms ({_ms(v['bound_s'])})" for v in row["lengths"].values()]
        cells.append("yes" if row["real_time"] else "no")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv: Optional[list[str]] = None) -> int:
    """Print the estimates."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown")
    parser.add_argument("--seconds", type=float, nargs="+", default=[1.0, 3.0, 10.0])
    args = parser.parse_args(argv)
    result = table(args.seconds)
    print(json.dumps(result, indent=2) if args.format == "json" else "\n".join(markdown(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

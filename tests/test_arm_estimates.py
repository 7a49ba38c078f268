"""benchmarks/platforms/arm_estimates.py: the peak-rate and latency arithmetic behind the ARM table of
docs/platforms.md."""

from __future__ import annotations

import pytest

from benchmarks.platforms import arm_estimates as est
from benchmarks.common.macs import FLOAT_PARTS, INT8_PARTS, model_macs


def test_core_rates_follow_pipes_and_instruction_width() -> None:
    # Cortex-A76: two 128-bit pipes x SDOT (4 lanes x 4 int8 products); FMLA: 4 float32 lanes.
    assert (est.A76.int8_macs_per_cycle, est.A76.fp32_macs_per_cycle) == (32, 8)
    # Neoverse V1: WikiChip's 256 int8 operations per cycle = 128 MACs (SMMLA on 4x128-bit pipes).
    assert 2 * est.V1.int8_macs_per_cycle == 256
    assert est.FIRESTORM.int8_macs_per_cycle == 64
    assert est.SMMLA_MACS == 2 * 2 * 8 and est.SDOT_MACS == 4 * 4


def test_device_peak_rates() -> None:
    pi5 = est.DEVICES[0]
    assert pi5.core is est.A76 and pi5.cores == 4 and pi5.ghz == 2.4
    rates = pi5.peak_rates()
    assert rates["int8"] == pytest.approx(32 * 4 * 2.4e9)
    assert rates["float32"] == pytest.approx(8 * 4 * 2.4e9)


def test_estimate_is_the_split_bound_divided_by_the_efficiencies() -> None:
    config = dict(est.XLSR53_ARCHITECTURE)
    device = est.DEVICES[0]
    macs = model_macs(config, 3.0)
    rates = device.peak_rates()
    bound = sum(macs[p] for p in INT8_PARTS) / rates["int8"] + sum(macs[p] for p in FLOAT_PARTS) / rates["float32"]
    result = est.estimate(config, device, 3.0)
    assert result["bound_s"] == pytest.approx(bound)
    assert result["expected_s"] == pytest.approx(bound / (est.KERNEL_SHARE_OF_PEAK * est.RUNTIME_SHARE_OF_FLOOR))
    assert result["expected_rtf"] == pytest.approx(result["expected_s"] / 3.0)
    # xlsr-53 int8 work is about 15 GMAC per second of audio: 3 s on a Pi 5 is bounded near 0.2 s.
    assert 0.1 < result["bound_s"] < 0.4


def test_table_rows_flags_and_markdown() -> None:
    tiny = {"hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 128, "conv_dim": [32] * 7,
            "conv_stride": [5, 2, 2, 2, 2, 2, 2], "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
            "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4}
    result = est.table((1.0, 10.0), {"tiny": tiny})
    assert len(result["rows"]) == len(est.DEVICES)
    for row in result["rows"]:
        assert row["real_time"] == all(v["expected_rtf"] < 1 for v in row["lengths"].values())
        assert row["sources"] and all(isinstance(s, str) for s in row["sources"])
        # Latency grows with length (attention is quadratic, the rest linear).
        assert row["lengths"]["10s"]["bound_s"] > 10 * row["lengths"]["1s"]["bound_s"] * 0.9
    lines = est.markdown(result)
    assert len(lines) == 2 + len(est.DEVICES) and lines[0].count("|") == lines[1].count("|")


def test_every_source_key_used_exists() -> None:
    used = {k for d in est.DEVICES for k in (*d.sources, *d.core.sources)}
    assert used <= set(est.SOURCES)

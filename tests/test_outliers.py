"""Outlier twins (float function unchanged), the measured smoothing, and the gate search for float MatMuls."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.export

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("optimum.exporters.onnx")
pytest.importorskip("onnx")

from benchmarks.quantization.outlier_twin import PLACES, plant_outliers, write_twin  # noqa: E402
from export_fixtures import one_torch_thread  # noqa: E402,F401 (autouse)
from phonedge_export import export_bundle  # noqa: E402
from phonedge_export.mixed_precision import Attempt, fewest_float  # noqa: E402
from phonedge_export.outliers import Site, linear_node_name, norm_sites, rescale_channels  # noqa: E402
from phonedge_export.smoothquant import analyse, fake_quantize_activation, migrated  # noqa: E402

from phonedge.errors import ExportError  # noqa: E402
from phonedge.manifest import read_manifest  # noqa: E402

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
CALIBRATION_FILES = 16


def _load(folder: Path):
    return transformers.Wav2Vec2ForCTC.from_pretrained(str(folder)).eval()


def _logits(model, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.from_numpy(x)[None]).logits[0].numpy()


def _signal(seconds: float, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(int(seconds * 16_000)).astype(np.float32)
    return (x - x.mean()) / x.std()


# ---------------------------------------------------------------- twins


def test_sites_of_a_pre_ln_model_are_the_norms_read_only_by_linears(layer_model):
    model = _load(layer_model)
    sites = norm_sites(model)
    layers = model.config.num_hidden_layers
    assert len(sites) == 2 + 2 * layers
    assert sites[0] == Site("wav2vec2.feature_projection.layer_norm", ("wav2vec2.feature_projection.projection",))
    assert sites[1].readers == tuple(f"wav2vec2.encoder.layers.0.attention.{p}_proj" for p in "qkv")
    assert sites[2] == Site("wav2vec2.encoder.layers.0.final_layer_norm",
                            ("wav2vec2.encoder.layers.0.feed_forward.intermediate_dense",))
    assert sites[-1] == Site("wav2vec2.encoder.layer_norm", ("lm_head",))
    assert [s.kind for s in sites[:3]] + [sites[-1].kind] == ["projection", "attention", "feed_forward", "head"]
    for site in sites:
        for reader in site.readers:  # every reader takes exactly the norm's width
            assert model.get_submodule(reader).in_features == model.get_submodule(site.norm).weight.numel()


def test_a_post_ln_model_has_only_the_feature_projection_site(group_model):
    assert [s.norm for s in norm_sites(_load(group_model))] == ["wav2vec2.feature_projection.layer_norm"]


@pytest.mark.parametrize("places", [("attention",), ("feed_forward",), ("projection",), ("head",), PLACES])
@pytest.mark.parametrize("magnitude", [10.0, 300.0])
def test_twin_has_the_same_float_function(layer_model, places, magnitude):
    original, twin = _load(layer_model), _load(layer_model)
    record = plant_outliers(twin, places, magnitude, seed=int(magnitude))
    assert record and all(len(r["channels"]) == 2 for r in record)
    for seed, seconds in enumerate((0.7, 2.3)):
        x = _signal(seconds, seed)
        a, b = _logits(original, x), _logits(twin, x)
        assert np.abs(a - b).max() <= 1e-4 * np.abs(a).max()
    norm = twin.get_submodule(record[0]["norm"])
    base = original.get_submodule(record[0]["norm"])
    ratio = (norm.weight / base.weight).detach().numpy()
    assert np.allclose(ratio[record[0]["channels"]], magnitude, rtol=1e-5)
    assert np.allclose(np.delete(ratio, record[0]["channels"]), 1.0)


def test_rescale_refuses_bad_scales(layer_model):
    model = _load(layer_model)
    site = norm_sites(model)[0]
    width = model.get_submodule(site.norm).weight.numel()
    with pytest.raises(ValueError, match="positive scales"):
        rescale_channels(model, site, np.ones(width - 1))
    with pytest.raises(ValueError, match="positive scales"):
        rescale_channels(model, site, -np.ones(width))


def test_unknown_place_is_refused(layer_model):
    with pytest.raises(ValueError, match="unknown place"):
        plant_outliers(_load(layer_model), ["conv"], 10.0)


def test_onnx_names_of_linears():
    name = linear_node_name("wav2vec2.encoder.layers.13.attention.q_proj")
    assert name == "/wav2vec2/encoder/layers.13/attention/q_proj/MatMul"
    assert linear_node_name("lm_head") == "/lm_head/MatMul"


# ---------------------------------------------------------------- measuring and migrating


def test_fake_activation_quantization_matches_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("DynamicQuantizeLinear", ["x"], ["q", "s", "z"]),
         helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])],
    )
    session = ort.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
    rng = np.random.default_rng(0)
    for shift in (0.0, 3.0, -2.0):
        x = (rng.standard_normal(1000) * rng.uniform(0.1, 50) + shift).astype(np.float32)
        want = session.run(None, {"x": x})[0]
        got = fake_quantize_activation(torch.from_numpy(x)).numpy()
        step = (max(x.max(), 0) - min(x.min(), 0)) / 255
        assert np.abs(want - got).max() <= step * 1.01  # at most one rounding step apart (ties)
        assert np.mean(want == got) > 0.99


def test_analysis_migrates_the_planted_outliers_and_undoes_them(layer_model):
    twin = _load(layer_model)
    record = plant_outliers(twin, ("attention",), 200.0)
    inputs = [_signal(1.5, seed) for seed in range(3)]
    analysis = analyse(twin, inputs, "int8", 16_000)
    planted = {r["norm"] for r in record}
    by_norm = {site["norm"]: site for site in analysis.sites}
    for norm in planted:
        site = by_norm[norm]
        assert site["migrated"] and site["max_over_median_channel"] > 20
        assert site["error_migrated"] < site["error_plain"] / 5
    assert len(analysis.linear_errors) == len(
        [m for m in twin.modules() if isinstance(m, torch.nn.Linear)]
    )
    ranking = analysis.ranking()
    assert [analysis.linear_errors[n] for n in ranking] == sorted(analysis.linear_errors.values(), reverse=True)
    before = {name: p.detach().clone() for name, p in twin.named_parameters()}
    x = _signal(1.0, 9)
    reference = _logits(twin, x)
    with migrated(twin, analysis):
        inside = _logits(twin, x)
        norm = twin.get_submodule(next(iter(planted)))
        assert norm.weight.abs().max() < before[next(iter(planted)) + ".weight"].abs().max() / 5
    assert np.abs(inside - reference).max() <= 1e-4 * np.abs(reference).max()
    for name, p in twin.named_parameters():
        assert torch.allclose(p, before[name], rtol=1e-6, atol=0), name


# ---------------------------------------------------------------- the search for float MatMuls


def _fake_attempt(needed: int, log: list):
    def attempt(float_nodes):
        log.append(len(float_nodes))
        failures = [] if len(float_nodes) >= needed else ["too few"]
        return Attempt(tuple(float_nodes), {}, {"transcript_agreement": 1.0 if not failures else 0.5}, failures)

    return attempt


@pytest.mark.parametrize("size, needed", [(n, k) for n in (1, 5, 14, 146) for k in (0, 1, n // 2, n)] + [(10, 11)])
def test_search_finds_the_fewest_float_matmuls(size, needed):
    ranking = [f"m{i}" for i in range(size)]
    log: list[int] = []
    chosen, tried = fewest_float(_fake_attempt(needed, log), ranking, max_attempts=30)
    if needed > size:
        assert not chosen.passed and log[-1] == size
        return
    assert chosen.passed and len(chosen.float_nodes) == needed
    assert chosen.float_nodes == tuple(ranking[:needed])
    assert log[-1] == needed  # the chosen graph is the one left on disk
    assert len(tried) <= 2 * (1 + int(np.log2(max(size, 1)))) + 1


def test_search_keeps_to_its_budget():
    log: list[int] = []
    chosen, tried = fewest_float(_fake_attempt(100, log), [f"m{i}" for i in range(146)], max_attempts=4)
    assert len(tried) <= 4 and chosen.passed in (True, False)
    assert all(a.passed == (len(a.float_nodes) >= 100) for a in tried)


# ---------------------------------------------------------------- the exporter on twins of the reference model


@pytest.fixture(scope="module")
def calibration(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("calibration")
    files = sorted((REFERENCE / "audio").glob("*.wav"))
    for path in itertools.islice(files[::7], CALIBRATION_FILES):
        shutil.copyfile(path, folder / path.name)
    return folder


@pytest.fixture(scope="module")
def reference_twin(tmp_path_factory) -> Path:
    if not (REFERENCE / "model" / "model.safetensors").is_file():
        pytest.skip("the committed reference model is missing")
    return write_twin(REFERENCE / "model", tmp_path_factory.mktemp("twin") / "twin", PLACES, 300.0)


def test_reference_twin_keeps_the_float_function(reference_twin):
    x = _signal(2.0, 4)
    a, b = _logits(_load(REFERENCE / "model"), x), _logits(_load(reference_twin), x)
    assert np.abs(a - b).max() <= 1e-4 * np.abs(a).max()


@pytest.mark.slow
def test_naive_int8_of_a_twin_fails_the_gate(tmp_path, reference_twin, calibration):
    with pytest.raises(ExportError, match="parity gate failed") as failure:
        export_bundle(reference_twin, tmp_path / "b", calibration_audio=calibration, smoothing=False,
                      mixed_precision=False)
    assert "even with" not in str(failure.value)
    assert not (tmp_path / "b").exists()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_default_export_of_a_twin_passes_and_records_the_smoothing(tmp_path, reference_twin, calibration, mode):
    manifest = export_bundle(reference_twin, tmp_path / "b", quantize=mode, calibration_audio=calibration)
    assert manifest.parity["passed"] and manifest.parity["transcript_agreement"] >= 0.99
    outliers = read_manifest(tmp_path / "b").graph.quantization["outliers"]
    sites = {s["norm"]: s for s in outliers["smoothing"]["sites"]}
    assert len(sites) == len(norm_sites(_load(reference_twin)))
    planted = [s for s in sites.values() if s["max_over_median_channel"] > 50]
    assert len(planted) == len(sites)  # every site of an all-places twin carries outliers
    assert all(s["migrated"] and s["error_migrated"] < s["error_plain"] / 5 for s in planted)
    assert outliers["attempts"][0]["passed"] and outliers["float_matmuls"] == []


@pytest.mark.slow
def test_without_smoothing_the_fewest_float_matmuls_rescue_a_twin(tmp_path, calibration):
    twin = write_twin(REFERENCE / "model", tmp_path / "twin", ["projection"], 300.0)
    manifest = export_bundle(twin, tmp_path / "b", calibration_audio=calibration, smoothing=False)
    outliers = manifest.graph.quantization["outliers"]
    assert manifest.parity["passed"] and outliers["smoothing"] is None
    assert outliers["float_matmuls"][0] == "/wav2vec2/feature_projection/projection/MatMul"  # the planted reader
    assert not outliers["attempts"][0]["passed"] and outliers["attempts"][-1]["passed"]
    assert set(outliers["float_matmuls"]) <= set(manifest.graph.quantization["excluded_nodes"])

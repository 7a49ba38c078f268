"""Export side: tiny random checkpoints -> bundles, checked against PyTorch and the manifest contract."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.export

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("optimum.exporters.onnx")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from click.testing import CliRunner  # noqa: E402
from export_fixtures import ADDED_TOKEN, CHARACTERS, PHONEMES, one_torch_thread  # noqa: E402,F401 (autouse)
from phonedge_export import export_bundle  # noqa: E402
from phonedge_export.calibration import generated_signals  # noqa: E402
from phonedge_export.checkpoint import receptive_field, resolve_model  # noqa: E402
from phonedge_export.cli import export as export_command  # noqa: E402
from phonedge_export.parity import compare  # noqa: E402

from phonedge.batch_policy import BatchPolicy, batch_policy  # noqa: E402
from phonedge.errors import ExportError, MissingExtraError  # noqa: E402
from phonedge.manifest import MANIFEST_NAME, read_manifest  # noqa: E402

# Quantized graphs of random models make coin-toss decisions; the fixtures test mechanics, not the defaults.
LOOSE = {"min_frame_agreement": 0.8}


# ---------------------------------------------------------------- fixtures


def _bundle(factory: pytest.TempPathFactory, model: Path, **options) -> Path:
    out = factory.mktemp("bundles") / "bundle"
    export_bundle(model, out, **options)
    return out


@pytest.fixture(scope="module")
def layer_fp32(tmp_path_factory, layer_model) -> Path:
    return _bundle(tmp_path_factory, layer_model, quantize="none")


@pytest.fixture(scope="module")
def layer_int8(tmp_path_factory, layer_model) -> Path:
    return _bundle(tmp_path_factory, layer_model, quantize="int8", **LOOSE)


@pytest.fixture(scope="module")
def layer_fp16(tmp_path_factory, layer_model) -> Path:
    return _bundle(tmp_path_factory, layer_model, quantize="fp16", **LOOSE)


@pytest.fixture(scope="module")
def group_fp32(tmp_path_factory, group_model) -> Path:
    return _bundle(tmp_path_factory, group_model, quantize="none")


def _signal(seconds: float, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(int(seconds * 16_000)).astype(np.float32)
    return (x - x.mean()) / x.std()


def _torch_logits(model_dir: Path, x: np.ndarray) -> np.ndarray:
    from transformers import Wav2Vec2ForCTC

    model = Wav2Vec2ForCTC.from_pretrained(model_dir).eval()
    with torch.inference_mode():
        return model(torch.from_numpy(x[None])).logits[0].numpy()


def _run(bundle: Path, values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    session = ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    feeds = {"input_values": values}
    if "attention_mask" in [i.name for i in session.get_inputs()]:
        feeds["attention_mask"] = np.ones(values.shape, np.int64) if mask is None else mask
    return session.run(None, feeds)[0]


def _nodes(graph) -> list:
    """Every node of GRAPH, those inside Loop/If bodies included (the encoder runs in a Loop)."""
    found = []
    for node in graph.node:
        found.append(node)
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                found += _nodes(attribute.g)
    return found


def _ops(bundle: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in _graph_nodes(bundle):
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


# ---------------------------------------------------------------- graphs


@pytest.mark.parametrize("which", ["layer", "group"])
def test_fp32_logits_match_pytorch(request, which):
    model_dir = request.getfixturevalue(f"{which}_model")
    bundle = request.getfixturevalue(f"{which}_fp32")
    for seconds, seed in ((0.7, 1), (1.9, 2)):
        x = _signal(seconds, seed)
        got = _run(bundle, x[None])[0]
        want = _torch_logits(model_dir, x)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


def test_int8_graph_really_is_quantized_and_smaller(layer_int8, layer_fp32):
    ops = _ops(layer_int8)
    assert ops.get("MatMulInteger", 0) >= 2 * 6  # q, k, v, out, two feed-forward per layer at least
    assert ops.get("DynamicQuantizeLinear", 0) >= 1
    assert "ConvInteger" not in ops  # the conv feature encoder stays float
    int8_weights = [
        t for t in onnx.load(str(layer_int8 / "model.onnx")).graph.initializer if t.data_type == onnx.TensorProto.INT8
    ]
    assert int8_weights
    manifest = read_manifest(layer_int8)
    quant = manifest.graph.quantization
    assert (quant["mode"], quant["weight_type"], quant["op_types"], quant["per_channel"]) == (
        "int8",
        "QInt8",
        ["MatMul"],
        True,
    )
    assert quant["quantized_nodes"] == ops["MatMulInteger"]
    assert manifest.graph.size_bytes < read_manifest(layer_fp32).graph.size_bytes


def test_fp16_graph_has_float16_weights_and_float32_io(layer_fp16):
    model = onnx.load(str(layer_fp16 / "model.onnx"))
    halves = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT16]
    assert len(halves) >= 10
    session = ort.InferenceSession(str(layer_fp16 / "model.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(float)"
    assert session.get_outputs()[0].type == "tensor(float)"
    assert read_manifest(layer_fp16).graph.quantization["float16_initializers"] == len(halves)


def test_mask_input_follows_the_feature_encoder_norm(layer_fp32, group_fp32):
    assert read_manifest(layer_fp32).graph.inputs == ["input_values", "attention_mask"]
    assert read_manifest(group_fp32).graph.inputs == ["input_values"]


def test_int8_graph_takes_no_mask(layer_int8, layer_fp32):
    """Dynamic int8 runs one item per call, so its layer-norm graph has no mask input (fp32 keeps one)."""
    assert read_manifest(layer_int8).graph.inputs == ["input_values"]
    assert batch_policy(read_manifest(layer_int8)) is BatchPolicy.ONE_BY_ONE
    assert batch_policy(read_manifest(layer_fp32)) is BatchPolicy.PADDED


def test_padded_masked_batch_equals_single_items(layer_fp32):
    manifest = read_manifest(layer_fp32)
    stride, field = manifest.audio.frame_stride, manifest.audio.receptive_field
    items = [_signal(s, seed) for seed, s in enumerate((1.6, 0.45, 1.01))]
    width = max(len(x) for x in items)
    batch = np.zeros((len(items), width), np.float32)
    mask = np.zeros((len(items), width), np.int64)
    for row, x in enumerate(items):
        batch[row, : len(x)], mask[row, : len(x)] = x, 1
    padded = _run(layer_fp32, batch, mask)
    for row, x in enumerate(items):
        single = _run(layer_fp32, x[None])[0]
        assert single.shape[0] == (len(x) - field) // stride + 1
        np.testing.assert_allclose(padded[row, : single.shape[0]], single, atol=1e-4, rtol=0)


# ---------------------------------------------------------------- manifest


def test_manifest_round_trips_with_the_right_fields(layer_fp32, layer_model):
    manifest = read_manifest(layer_fp32)
    data = json.loads((layer_fp32 / MANIFEST_NAME).read_text())
    assert manifest.to_dict() == data
    assert sorted(p.name for p in layer_fp32.iterdir()) == ["model.onnx", MANIFEST_NAME]
    tok, audio, graph = manifest.tokenizer, manifest.audio, manifest.graph
    assert tok.kind == "Wav2Vec2PhonemeCTCTokenizer"
    assert tok.vocab == PHONEMES and tok.blank_id == 0
    assert (tok.pad_token, tok.unk_token, tok.word_delimiter_token) == ("<pad>", "<unk>", None)
    assert not {"special_tokens", "phone_delimiter_token"} & set(data["tokenizer"])  # retired: nothing reads them
    assert "return_attention_mask" not in data["audio"]
    assert (audio.sample_rate, audio.frame_stride, audio.receptive_field) == (16_000, 320, 400)
    assert (audio.feat_extract_norm, audio.do_normalize) == ("layer", True)
    model_file = layer_fp32 / graph.file
    assert graph.size_bytes == model_file.stat().st_size
    import hashlib

    assert graph.sha256 == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert manifest.source["model"] == str(layer_model)
    assert (
        manifest.source["weights_sha256"]
        == hashlib.sha256((layer_model / "model.safetensors").read_bytes()).hexdigest()
    )
    assert manifest.source["num_parameters"] > 0 and manifest.source["model_type"] == "wav2vec2"
    assert set(manifest.versions) == {
        "phonedge",
        "torch",
        "transformers",
        "optimum",
        "optimum-onnx",
        "onnx",
        "onnxruntime",
    }
    parity = manifest.parity
    assert parity["passed"] and parity["gated"] and parity["inputs"] == "generated" and parity["n_inputs"] == 8
    assert parity["max_abs_logit_diff"] < 1e-4 and parity["padded_batch"]["max_abs_logit_diff"] < 1e-4
    assert parity["frame_argmax_agreement"] == 1.0 and parity["transcript_agreement"] == 1.0
    assert parity["thresholds"] == {"fp32_atol": 1e-4}


def test_character_tokenizer_fields(group_fp32):
    manifest = read_manifest(group_fp32)
    tok = manifest.tokenizer
    assert tok.kind == "Wav2Vec2CTCTokenizer" and tok.word_delimiter_token == "|"
    assert tok.vocab == [*CHARACTERS, ADDED_TOKEN, "<unk>"]  # added token kept, hole filled with unk
    assert manifest.audio.feat_extract_norm == "group"
    assert manifest.parity["padded_batch"] is None


def test_quantized_parity_figures_and_thresholds(layer_int8):
    parity = read_manifest(layer_int8).parity
    for key in ("max_abs_logit_diff", "mean_abs_logit_diff", "frame_argmax_agreement", "transcript_agreement"):
        assert isinstance(parity[key], float)
    assert 0 < parity["max_abs_logit_diff"] < 0.5
    assert parity["thresholds"] == {"min_frame_agreement": 0.8, "min_agreement": None}
    assert parity["padded_batch"] is None  # int8 runs one item per call: no padded batch to check


def test_calibration_audio_and_labels(tmp_path, layer_model):
    import soundfile as sf

    audio = tmp_path / "calibration"
    (audio / "sub").mkdir(parents=True)
    rng = np.random.default_rng(3)
    sf.write(audio / "a.wav", rng.uniform(-0.3, 0.3, (8_000, 2)), 8_000, subtype="PCM_16")  # stereo, 8 kHz
    sf.write(audio / "sub" / "b.flac", rng.uniform(-0.3, 0.3, 20_000), 16_000)
    (audio / "notes.txt").write_text("not audio")
    labels = tmp_path / "labels.tsv"
    labels.write_text("label\tname\ttranscript\n0\tzero\tz iy r ow\n1\tone\tw ah n\n", encoding="utf-8")
    out = tmp_path / "bundle"
    manifest = export_bundle(layer_model, out, calibration_audio=audio, labels=labels, gate=False, **LOOSE)
    assert manifest.parity["inputs"] == "calibration" and manifest.parity["n_inputs"] == 2
    assert manifest.parity["thresholds"]["min_agreement"] == 0.99  # the default on real audio
    assert [(c.label, c.name, c.transcript) for c in manifest.labels] == [
        ("0", "zero", "z iy r ow"),
        ("1", "one", "w ah n"),
    ]
    assert read_manifest(out) == manifest


# ---------------------------------------------------------------- parity gate


def test_gate_refuses_an_impossible_fp32_tolerance(tmp_path, layer_model):
    out = tmp_path / "bundle"
    with pytest.raises(ExportError, match=r"parity gate failed.*fp32_atol 0"):
        export_bundle(layer_model, out, quantize="none", fp32_atol=0.0)
    assert not out.exists() and _leftovers(tmp_path) == []


def test_gate_refuses_an_impossible_frame_agreement(tmp_path, layer_model):
    out = tmp_path / "bundle"
    with pytest.raises(ExportError, match="frame argmax agreement"):
        export_bundle(layer_model, out, quantize="int8", min_frame_agreement=1.0)
    assert not out.exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize("option", [{"min_agreement": 1.5}, {"min_frame_agreement": -0.1}, {"fp32_atol": -1.0}])
def test_impossible_thresholds_are_refused_up_front(tmp_path, layer_model, option):
    with pytest.raises(ExportError, match=r"impossible|positive"):
        export_bundle(layer_model, tmp_path / "bundle", **option)
    assert not (tmp_path / "bundle").exists()


def test_without_the_gate_failures_are_recorded(tmp_path, group_model):
    manifest = export_bundle(group_model, tmp_path / "bundle", quantize="none", fp32_atol=0.0, gate=False)
    assert manifest.parity["passed"] is False and manifest.parity["gated"] is False
    assert read_manifest(tmp_path / "bundle").parity["passed"] is False


def test_parity_compares_the_runtime_transcripts():
    from phonedge.manifest import TokenizerSpec

    spec = TokenizerSpec(kind="Wav2Vec2PhonemeCTCTokenizer", vocab=["<pad>", "<s>", "</s>", "<unk>", "z", "ih"],
                         blank_id=0, word_delimiter_token=None)
    eye = np.eye(6, dtype=np.float32)
    reference = [eye[[0, 4, 4, 0, 5, 0]], eye[[4, 0, 4, 5]], np.zeros((0, 6), np.float32)]
    shifted = [eye[[4, 4, 0, 0, 5, 5]], eye[[4, 4, 4, 5]], np.zeros((0, 6), np.float32)]  # same/merged/empty
    figures = compare(reference, shifted, spec)
    assert figures["transcript_agreement"] == pytest.approx(2 / 3)  # "z z ih" vs "z ih" differs
    assert figures["frame_argmax_agreement"] == pytest.approx(6 / 10)
    assert figures["max_abs_logit_diff"] == 1.0 and figures["n_frames"] == 10


def test_generated_signals_are_deterministic():
    first, second = generated_signals(16_000), generated_signals(16_000)
    assert len(first) == 8 and all(np.array_equal(a, b) for a, b in zip(first, second))
    assert min(len(x) for x in first) == 8_000 and max(len(x) for x in first) == 48_000
    assert all(abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 1e-3 for x in first)


def test_receptive_field_of_wav2vec2_convs():
    assert receptive_field([10, 3, 3, 3, 3, 2, 2], [5, 2, 2, 2, 2, 2, 2]) == 400


# ---------------------------------------------------------------- bad input


def _copy(model: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(model, tmp_path / "model"))


def _edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_missing_path(tmp_path):
    with pytest.raises(ExportError, match=r"model folder not found: .*nowhere"):
        export_bundle(tmp_path / "nowhere", tmp_path / "out")


def test_unreachable_hub_id(tmp_path, monkeypatch):
    import huggingface_hub

    def offline(**_kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(ExportError, match=r"could not be fetched from the Hugging Face Hub.*unreachable"):
        export_bundle("someone/some-model", tmp_path / "out")


def test_hub_id_resolves_to_the_downloaded_snapshot(monkeypatch, layer_model):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, **_: str(layer_model))
    assert resolve_model("someone/some-model") == layer_model


def test_not_a_model_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError, match=r"config.json is missing"):
        export_bundle(tmp_path / "empty", tmp_path / "out")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"architectures": ["Wav2Vec2ForPreTraining"]}, "lack Wav2Vec2ForCTC"),
        ({"model_type": "hubert", "architectures": ["HubertForCTC"]}, "model_type 'hubert' is not supported"),
    ],
)
def test_not_a_wav2vec2_ctc_model(tmp_path, layer_model, changes, message):
    model = _copy(layer_model, tmp_path)
    _edit_json(model / "config.json", **changes)
    with pytest.raises(ExportError, match=message):
        export_bundle(model, tmp_path / "out")


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        ("vocab.json", "vocabulary vocab.json is missing"),
        ("preprocessor_config.json", "preprocessor_config.json .* is missing"),
        ("model.safetensors", "no weights"),
    ],
)
def test_missing_checkpoint_files(tmp_path, layer_model, remove, message):
    model = _copy(layer_model, tmp_path)
    (model / remove).unlink()
    with pytest.raises(ExportError, match=message):
        export_bundle(model, tmp_path / "out")


def test_checkpoint_without_a_ctc_head(tmp_path, layer_model):
    from safetensors.torch import load_file, save_file

    model = _copy(layer_model, tmp_path)
    weights = {k: v for k, v in load_file(model / "model.safetensors").items() if not k.startswith("lm_head.")}
    save_file(weights, model / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ExportError, match="lack the CTC head"):
        export_bundle(model, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unsupported_tokenizer(tmp_path, layer_model):
    model = _copy(layer_model, tmp_path)
    _edit_json(model / "tokenizer_config.json", tokenizer_class="BertTokenizer")
    with pytest.raises(ExportError, match="tokenizer 'BertTokenizer' is not supported"):
        export_bundle(model, tmp_path / "out")


def test_existing_output_is_refused_without_overwrite(tmp_path, layer_model):
    (tmp_path / "out").mkdir()
    with pytest.raises(ExportError, match=r"already exists.*--overwrite"):
        export_bundle(layer_model, tmp_path / "out")


def test_overwrite_refuses_a_folder_that_is_not_a_bundle(tmp_path, layer_model):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "precious.txt").write_text("keep me")
    with pytest.raises(ExportError, match="not a phonedge bundle"):
        export_bundle(layer_model, tmp_path / "out", overwrite=True)
    assert (tmp_path / "out" / "precious.txt").read_text() == "keep me"


def test_output_that_is_a_file(tmp_path, layer_model):
    (tmp_path / "out").write_text("")
    with pytest.raises(ExportError, match="is a file"):
        export_bundle(layer_model, tmp_path / "out")


def test_output_inside_the_model_folder(tmp_path, layer_model):
    model = _copy(layer_model, tmp_path)
    with pytest.raises(ExportError, match="inside the model folder"):
        export_bundle(model, model / "bundle")
    with pytest.raises(ExportError, match="contains the model folder"):
        export_bundle(model, tmp_path, overwrite=True)
    assert not (model / "bundle").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: None, "calibration audio folder not found"),
        (lambda d: d.mkdir(), "no audio files"),
        (lambda d: (d.mkdir(), (d / "x.wav").write_bytes(b"RIFF not really")), "cannot decode"),
    ],
)
def test_bad_calibration_audio(tmp_path, layer_model, make, message):
    make(tmp_path / "audio")
    with pytest.raises(ExportError, match=message):
        export_bundle(layer_model, tmp_path / "out", calibration_audio=tmp_path / "audio")
    assert not (tmp_path / "out").exists()


def test_bad_labels_file(tmp_path, layer_model):
    labels = tmp_path / "labels.tsv"
    labels.write_text("label\ttranscript\n0\tz iy r ow\n")
    with pytest.raises(ExportError, match=r"lacks column\(s\) name"):
        export_bundle(layer_model, tmp_path / "out", labels=labels)


def test_unknown_excluded_node_and_nothing_left_to_quantize(tmp_path, layer_model):
    with pytest.raises(ExportError, match="not in the graph: /no/such/MatMul"):
        export_bundle(layer_model, tmp_path / "out", exclude_nodes=["/no/such/MatMul"])
    with pytest.raises(ExportError, match="leaves nothing to quantize"):
        export_bundle(layer_model, tmp_path / "out", exclude_op_types=["MatMul"])
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []


def test_missing_export_extra(tmp_path, layer_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "optimum.exporters.onnx", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'phonedge\[export\]'"):
        export_bundle(layer_model, tmp_path / "out")


# ---------------------------------------------------------------- atomicity


@pytest.mark.parametrize("failure", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_a_failure_midway_leaves_nothing(tmp_path, layer_model, monkeypatch, failure):
    from phonedge_export import exporter

    def fail(*_args, **_kwargs):
        raise failure

    monkeypatch.setattr(exporter, "write_manifest", fail)  # the very last step
    with pytest.raises(type(failure)):
        export_bundle(layer_model, tmp_path / "out", quantize="none")
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []


def test_a_failed_overwrite_keeps_the_old_bundle(tmp_path, layer_model, layer_fp32, monkeypatch):
    from phonedge_export import exporter

    out = Path(shutil.copytree(layer_fp32, tmp_path / "out"))
    before = (out / MANIFEST_NAME).read_text()
    monkeypatch.setattr(exporter, "measure_parity", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        export_bundle(layer_model, out, quantize="int8", overwrite=True)
    assert (out / MANIFEST_NAME).read_text() == before and _leftovers(tmp_path) == []


# ---------------------------------------------------------------- CLI


def test_cli_exports_and_overwrites(tmp_path, layer_model):
    out = tmp_path / "bundle"
    runner = CliRunner()
    args = [str(layer_model), "-o", str(out), "--quantize", "none", "--pos-conv", "conv1d",
            "--encoder-piece-frames", "0", "--json"]
    result = runner.invoke(export_command, args)
    assert result.exit_code == 0, result.output
    quantization = read_manifest(out).graph.quantization
    assert quantization["pos_conv"] == "conv1d" and quantization["encoder_pieces"] is None
    record = json.loads(result.stdout)
    assert record["bundle"] == str(out) and record["quantization"] == "none" and record["parity"]["passed"]
    assert "exporting ONNX" in result.stderr and "checking parity on 8 generated inputs" in result.stderr
    (out / "stale.txt").write_text("from the old bundle")
    args = [str(layer_model), "-o", str(out), "--quantize", "int8", "--min-frame-agreement", "0.8", "--overwrite"]
    result = runner.invoke(export_command, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {out}: int8")
    assert read_manifest(out).graph.quantization["mode"] == "int8" and not (out / "stale.txt").exists()
    assert _leftovers(tmp_path) == []


def test_cli_user_error_has_no_traceback(tmp_path):
    result = CliRunner().invoke(export_command, [str(tmp_path / "nowhere"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: model folder not found:")
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_cli_module_imports_no_heavy_package():
    heavy = "{'torch', 'transformers', 'optimum', 'onnx'}"
    code = f"import sys, phonedge_export.cli; print(sorted({heavy} & set(sys.modules)))"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "[]"


def _cli_options(monkeypatch, args: list[str]):
    """The ExportOptions that ``phonedge export MODEL -o OUT ARGS`` hands to export_bundle."""
    import phonedge_export
    from phonedge.errors import PhonedgeError

    seen = []

    def capture(model, output, options, **_kwargs):
        seen.append(options)
        raise PhonedgeError("captured")

    monkeypatch.setattr(phonedge_export, "export_bundle", capture)
    result = CliRunner().invoke(export_command, ["model", "-o", "out", *args])
    assert result.exit_code in (1, 2), result.output
    return seen[0] if seen else result


def test_cli_defaults_and_choices_are_the_library_s(monkeypatch):
    """The CLI re-types nothing: its defaults are ExportOptions()'s, and every choice the library has is offered."""
    from phonedge_export import ExportOptions, QUANTIZE_MODES
    from phonedge_export.matmul_encoder import FEATURE_ENCODERS
    from phonedge_export.pos_conv import POS_CONVS

    assert _cli_options(monkeypatch, []) == ExportOptions()
    for name, choices in (("quantize", QUANTIZE_MODES), ("feature_encoder", FEATURE_ENCODERS), ("pos_conv", POS_CONVS)):
        for choice in choices:
            options = _cli_options(monkeypatch, [f"--{name.replace('_', '-')}", choice])
            assert getattr(options, name) == choice
        refused = _cli_options(monkeypatch, [f"--{name.replace('_', '-')}", "no-such-choice"])
        assert refused.exit_code == 2 and all(choice in refused.output for choice in choices)
    options = _cli_options(monkeypatch, [
        "--no-per-channel", "--exclude-node", "a", "--exclude-node", "b", "--exclude-op-type", "Conv",
        "--attention-mask", "--encoder-piece-frames", "0", "--optimize", "--calibration-audio", "audio",
        "--labels", "labels.tsv", "--min-agreement", "0.5", "--min-frame-agreement", "0.9", "--fp32-atol", "0.01",
        "--no-parity-gate", "--overwrite",
    ])
    assert options == ExportOptions(
        per_channel=False, exclude_nodes=("a", "b"), exclude_op_types=("Conv",), with_attention_mask=True,
        encoder_piece_frames=0, optimize=True, calibration_audio=Path("audio"), labels=Path("labels.tsv"),
        min_agreement=0.5, min_frame_agreement=0.9, fp32_atol=0.01, gate=False, overwrite=True,
    )
    assert _cli_options(monkeypatch, ["--min-agreement", "1.5"]).exit_code == 2  # ranges come from the fields too


def _graph_nodes(bundle: Path) -> list:
    return _nodes(onnx.load(str(bundle / "model.onnx"), load_external_data=False).graph)


def test_matmul_feature_encoder_is_quantized_except_the_waveform_layer(layer_int8):
    nodes = _graph_nodes(layer_int8)
    encoder = [n for n in nodes if "/feature_extractor/" in n.name]
    assert not any(n.op_type == "Conv" for n in encoder)
    quantized_blocks = {n.name.split("/")[3] for n in encoder if n.op_type == "MatMulInteger"}
    assert quantized_blocks == {f"blocks.{i}" for i in range(1, 7)}
    assert any(n.op_type == "MatMul" and n.name.startswith("/wav2vec2/feature_extractor/blocks.0/") for n in nodes)
    quant = read_manifest(layer_int8).graph.quantization
    assert quant["feature_encoder"] == "matmul"
    assert any(name.startswith("/wav2vec2/feature_extractor/blocks.0/") for name in quant["excluded_nodes"])


def test_conv_feature_encoder_option(tmp_path_factory, layer_model):
    bundle = _bundle(tmp_path_factory, layer_model, quantize="none", feature_encoder="conv")
    encoder = [n for n in _graph_nodes(bundle) if "/feature_extractor/" in n.name]
    assert sum(n.op_type == "Conv" for n in encoder) == 7
    x = _signal(1.3, seed=11)
    session = ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    feeds = {"input_values": x[None], "attention_mask": np.ones((1, len(x)), np.int64)}
    got = session.run(["logits"], feeds)[0][0]
    assert np.abs(got - _torch_logits(layer_model, x)).max() < 1e-4
    with pytest.raises(ExportError, match="feature_encoder"):
        export_bundle(layer_model, tmp_path_factory.mktemp("bad") / "b", feature_encoder="fft")


def _pos_conv_weight(bundle: Path):
    model = onnx.load(str(bundle / "model.onnx"), load_external_data=False)
    (node,) = [n for n in model.graph.node if n.op_type == "Conv" and "/pos_conv_embed/" in n.name]
    return {t.name: t for t in model.graph.initializer}.get(node.input[1])


def test_pos_conv_exports_as_a_height_one_conv2d(layer_fp32, layer_int8):
    for bundle in (layer_fp32, layer_int8):
        weight = _pos_conv_weight(bundle)
        assert weight is not None and len(weight.dims) == 4 and weight.dims[2] == 1
        assert read_manifest(bundle).graph.quantization["pos_conv"] == "conv2d"


def test_conv1d_pos_conv_option_gives_the_same_logits(tmp_path_factory, layer_model, layer_fp32):
    bundle = _bundle(tmp_path_factory, layer_model, quantize="none", pos_conv="conv1d")
    weight = _pos_conv_weight(bundle)
    assert weight is None or len(weight.dims) == 3  # as Optimum writes it (weight norm may stay a computation)
    assert read_manifest(bundle).graph.quantization["pos_conv"] == "conv1d"
    x = _signal(2.1, seed=12)
    feeds = {"input_values": x[None], "attention_mask": np.ones((1, len(x)), np.int64)}
    logits = [
        ort.InferenceSession(str(b / "model.onnx"), providers=["CPUExecutionProvider"]).run(["logits"], feeds)[0][0]
        for b in (bundle, layer_fp32)
    ]
    expected = _torch_logits(layer_model, x)
    assert np.abs(logits[0] - expected).max() < 1e-4
    assert np.abs(logits[1] - expected).max() < 1e-4
    with pytest.raises(ExportError, match="pos_conv"):
        export_bundle(layer_model, tmp_path_factory.mktemp("bad") / "b", pos_conv="conv3d")


def test_conv2d_pos_conv_module_matches_and_is_restored(layer_model):
    from phonedge_export.checkpoint import load_model
    from phonedge_export.pos_conv import conv2d_pos_conv

    model = load_model(layer_model)
    embed = model.wav2vec2.encoder.pos_conv_embed
    original = embed.conv
    hidden = torch.randn(2, 37, model.config.hidden_size)
    with torch.inference_mode():
        expected = embed(hidden)
        with conv2d_pos_conv(model):
            assert embed.conv is not original
            got = embed(hidden)
    assert embed.conv is original
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() < 1e-5


def test_int8_encoder_blocks_stack_uint8(layer_int8, layer_fp32, layer_model):
    nodes = _graph_nodes(layer_int8)
    producer = {out: n for n in nodes for out in n.output}
    early = [n for n in nodes if n.name.endswith("/StackInput_QuantizeLinear")]
    assert sorted(n.name.split("/")[3] for n in early) == [f"blocks.{i}" for i in range(1, 7)]
    for node in nodes:
        if node.op_type == "DynamicQuantizeLinear" and "/feature_extractor/" in node.name:
            assert node in early  # no float stack is quantized after stacking any more
    for node in nodes:  # every frame-stack slice of blocks 1-6 reads the uint8 block input
        scope = "/".join(node.name.split("/")[:4])
        if node.op_type == "Slice" and "/feature_extractor/blocks." in node.name and not scope.endswith("blocks.0"):
            assert producer[node.input[0]].op_type == "DynamicQuantizeLinear"
    assert read_manifest(layer_int8).graph.quantization["uint8_stacked_blocks"] == 6
    assert "uint8_stacked_blocks" not in read_manifest(layer_fp32).graph.quantization
    x = _signal(1.7, seed=13)
    got = _run(layer_int8, x[None])[0]
    assert (got.argmax(-1) == _torch_logits(layer_model, x).argmax(-1)).mean() > 0.8


def test_layer_norm_encoders_run_in_pieces_by_default(layer_fp32, layer_int8, group_fp32):
    for bundle in (layer_fp32, layer_int8):
        assert any(n.op_type == "Loop" for n in onnx.load(str(bundle / "model.onnx")).graph.node)
        assert read_manifest(bundle).graph.quantization["encoder_pieces"] == {
            "frames": 50, "samples": 49 * 320 + 400, "hop_samples": 50 * 320}
    assert read_manifest(group_fp32).graph.quantization["encoder_pieces"] is None
    assert not any(n.op_type == "Loop" for n in _graph_nodes(group_fp32))


@pytest.fixture(scope="module")
def layer_one_pass(tmp_path_factory, layer_model) -> Path:
    return _bundle(tmp_path_factory, layer_model, quantize="none", encoder_piece_frames=0)


@pytest.mark.parametrize("frames", [1, 7])
def test_pieces_give_the_one_pass_logits(tmp_path_factory, layer_model, layer_one_pass, layer_fp32, frames):
    assert not any(n.op_type == "Loop" for n in _graph_nodes(layer_one_pass))
    small = _bundle(tmp_path_factory, layer_model, quantize="none", encoder_piece_frames=frames)
    for seconds, seed in ((2.37, 21), (0.43, 22), (1.0, 23)):
        x = _signal(seconds, seed)[None]
        whole = _run(layer_one_pass, x)
        for bundle in (small, layer_fp32):
            got = _run(bundle, x)
            assert got.shape == whole.shape
            assert np.abs(got - whole).max() < 1e-5
    assert np.abs(_run(small, x)[0] - _torch_logits(layer_model, x[0])).max() < 1e-4


def test_encoder_piece_options_are_checked(tmp_path, layer_model, group_model):
    with pytest.raises(ExportError, match="group-norm feature encoder"):
        export_bundle(group_model, tmp_path / "a", quantize="none", encoder_piece_frames=5)
    with pytest.raises(ExportError, match="must be 0"):
        export_bundle(layer_model, tmp_path / "b", quantize="none", encoder_piece_frames=-1)
    assert _leftovers(tmp_path) == []


def test_encoder_in_pieces_refuses_a_graph_without_the_encoder_boundary():
    from onnx import TensorProto, helper

    from phonedge_export.piecewise import encoder_in_pieces

    graph = helper.make_graph([helper.make_node("Identity", ["input_values"], ["logits"])], "g",
                              [helper.make_tensor_value_info("input_values", TensorProto.FLOAT, [1, None])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, None])])
    model = helper.make_model(graph)
    before = model.SerializeToString()
    with pytest.raises(ExportError, match="feature encoder's output is unknown"):
        encoder_in_pieces(model, 50, 320, 400, 512)
    with pytest.raises(ExportError, match="at least one frame"):
        encoder_in_pieces(model, 0, 320, 400, 512)
    assert model.SerializeToString() == before  # a refused rewrite leaves the graph as it was

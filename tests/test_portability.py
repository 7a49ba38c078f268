"""Portability suite and its comparison (benchmarks/platforms/portability*.py), on the host: no emulation needed."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.platforms import portability, portability_compare
from benchmarks.platforms.arm64_env import Apt, Arm64Environment, EnvironmentBuildError, pinned_versions
from benchmarks.platforms.portability_suite import ANSWERS, ARRAYS, read_manifest, run_suite

REFERENCE = Path(__file__).resolve().parents[1] / "reference"


def _answers(texts: dict[str, str], labels: dict[str, str]) -> dict:
    return {name: {"text": text, "label": labels[name]} for name, text in texts.items()}


def _arrays(mode: str, names: list[str], offset: float = 0.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {f"logits/{mode}/{n}": rng.standard_normal((5, 4)).astype(np.float32) + offset for n in names}


def test_compare_mode_counts_differences_and_logit_gap() -> None:
    labels = {"a": "0", "b": "1", "c": "2"}
    host = _answers({"a": "z ih r ow", "b": "w ah n", "c": "t uw"}, labels)
    other = copy.deepcopy(host)
    other["b"]["text"] = "w ah"
    other["c"]["label"] = "3"
    host_arrays = _arrays("int8", list(labels))
    other_arrays = {k: v + np.float32(0.25) for k, v in host_arrays.items()}
    result = portability_compare.compare_mode(host, other, host_arrays, other_arrays, "int8", labels)
    assert (result["items"], result["same_text"], result["same_label"]) == (3, 2, 2)
    assert result["differing"] == ["b", "c"]
    assert result["max_abs_logit_diff"] == pytest.approx(0.25, abs=1e-6)
    assert result["accuracy_host"] == 1.0 and result["accuracy_other"] == pytest.approx(2 / 3)
    assert not result["identical"]
    same = portability_compare.compare_mode(host, host, host_arrays, host_arrays, "int8", labels)
    assert same["identical"] and same["max_abs_logit_diff"] == 0.0


def test_compare_mode_missing_item_or_error_is_not_identical() -> None:
    labels = {"a": "0", "b": "1"}
    host = _answers({"a": "z", "b": "w"}, labels)
    missing = {"a": host["a"]}
    assert not portability_compare.compare_mode(host, missing, {}, {}, "fp32", labels)["identical"]
    both_failed = {"a": host["a"], "b": {"error": "AudioDecodeError: x"}}
    result = portability_compare.compare_mode(both_failed, both_failed, {}, {}, "fp32", labels)
    assert not result["identical"] and result["errors"] == 2
    shape = portability_compare.compare_mode(host, host, {"logits/fp32/a": np.zeros((3, 4))},
                                             {"logits/fp32/a": np.zeros((4, 4))}, "fp32", labels)
    assert shape["max_abs_logit_diff"] == float("inf")


def _cli(records: dict, exits=(0, 1, 2, 0)) -> dict:
    return {"predict": {"exit_code": exits[0], "exception": None, "records": records},
            "missing_file": {"exit_code": exits[1], "stderr": "error: absent.wav: not found", "exception": None,
                             "lines_out": 1},
            "missing_bundle": {"exit_code": exits[2], "stderr": "error: no bundle", "exception": None},
            "eval": {"exit_code": exits[3], "exception": None, "report": {"n": 2}}}


def test_compare_cli_needs_equal_records_exit_codes_and_library_agreement() -> None:
    library = _answers({"a": "z", "b": "w"}, {"a": "0", "b": "1"})
    cli = _cli({n: dict(v) for n, v in library.items()})
    assert portability_compare.compare_cli(cli, cli, library, library)["identical"]
    other_exit = _cli(cli["predict"]["records"], exits=(0, 2, 2, 0))
    assert not portability_compare.compare_cli(cli, other_exit, library, library)["identical"]
    wrong = _cli({"a": {"text": "z", "label": "0"}, "b": {"text": "w ah", "label": "1"}})
    assert not portability_compare.cli_summary(wrong, library)["records_equal_library"]
    traceback = copy.deepcopy(cli)
    traceback["missing_bundle"]["stderr"] = "Traceback (most recent call last):"
    assert not portability_compare.compare_cli(cli, traceback, library, library)["identical"]


def test_compare_formats_and_run_verdict() -> None:
    host_formats = {"x.flac": {"text": "z", "label": "0", "samples": 100}}
    arrays = {"audio/x.flac": np.zeros(100, dtype=np.float32)}
    shifted = {"audio/x.flac": np.full(100, 1e-3, dtype=np.float32)}
    result = portability_compare.compare_formats(host_formats, host_formats, arrays, shifted)
    assert result["identical"] and result["files"]["x.flac"]["max_abs_sample_diff"] == pytest.approx(1e-3)
    other = {"x.flac": {"error": "AudioDecodeError: unsupported"}}
    assert not portability_compare.compare_formats(host_formats, other, arrays, {})["identical"]

    labels = {"a": "0"}
    library = _answers({"a": "z"}, labels)
    host = {"environment": {"cpu_flags": []}, "modes": {"int8": library}, "cli": _cli(dict(library)),
            "formats": host_formats}
    assert portability_compare.compare_run(host, host, arrays, arrays, labels, "int8")["identical"]
    broken = copy.deepcopy(host)
    broken["formats"]["x.flac"]["text"] = "w"
    assert not portability_compare.compare_run(host, broken, arrays, arrays, labels, "int8")["identical"]


def _report(identical: bool) -> dict:
    mode = {"items": 2, "same_text": 2, "same_label": 2 if identical else 1, "max_abs_logit_diff": 3e-6,
            "accuracy_host": 1.0, "accuracy_other": 1.0, "identical": identical}
    return {"generated": "2026-11-27", "identical": identical,
            "host": {"machine": "x86_64", "cpu": "AMD EPYC", "onnxruntime": "1.32.0"},
            "emulator": {"qemu": "qemu-aarch64 version 10.0.2", "wheels": {"onnxruntime": "1.32.0"}},
            "modes": {"int8": "--quantize int8"},
            "runs": [{"cpu": "neoverse-n1", "environment": {"cpu_flags": ["asimd", "asimddp"]},
                      "modes": {"int8": mode}, "cli": {"identical": True},
                      "formats": {"files": {"x.flac": {"same_answer": True, "max_abs_sample_diff": 0.0}}}}],
            "notes": ["a note"]}


def test_markdown() -> None:
    lines = portability_compare.markdown(_report(True))
    text = "\n".join(lines)
    assert lines[0] == portability_compare.SECTION
    assert "| `neoverse-n1` | asimd asimddp | 2/2 / 2/2 | 3.0e-06 | identical | 1/1 identical |" in text
    assert "identical answers on every emulated CPU" in text and "- a note" in text
    assert "`flac` 1/1, 0.0e+00" in text
    assert "ANSWERS DIFFER" in "\n".join(portability_compare.markdown(_report(False)))


def test_every_exporter_mode_is_in_the_suite() -> None:
    pytest.importorskip("torch")
    from phonedge_export import QUANTIZE_MODES

    modes = portability.bundle_modes()
    assert sorted(opts[1] for opts in modes.values()) == sorted(QUANTIZE_MODES)
    assert modes["fp32"] == ["--quantize", "none"] and portability.CLI_MODE in modes


def test_pinned_versions_and_apt_closure_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    constraints = tmp_path / "c.txt"
    constraints.write_text("numpy==2.4.6  # x\nOnnxruntime==1.32.0\nsoxr>=1\n", encoding="utf-8")
    assert pinned_versions(constraints, ("numpy", "onnxruntime")) == {"numpy": "2.4.6", "onnxruntime": "1.32.0"}
    with pytest.raises(EnvironmentBuildError, match="soxr"):
        pinned_versions(constraints, ("soxr",))

    simulated = ("NOTE: simulation\nInst gcc-12-base (12.2.0-14+deb12u1 Debian:12.15/oldstable [arm64])\n"
                 "Inst libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [arm64]) []\n"
                 "Inst libcrypt1 (1:4.4.33-2 Debian:12.15/oldstable [arm64])\n"
                 "Inst media-types (10.0.0 Debian:12.15/oldstable [all])\nConf libc6 (2.36)\n")
    monkeypatch.setattr("benchmarks.platforms.arm64_env._run", lambda argv, **kw: simulated)
    assert Apt(tmp_path).closure(["python3.11"]) == [
        ("gcc-12-base", "12.2.0-14+deb12u1", "arm64"), ("libc6", "2.36-9+deb12u14", "arm64"),
        ("libcrypt1", "1:4.4.33-2", "arm64"), ("media-types", "10.0.0", "all")]
    options = Apt(tmp_path).options()
    assert f"-oDir::State::status={tmp_path / 'status'}" in options and "-oAPT::Architecture=arm64" in options


def test_emulator_command_and_clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    env = Arm64Environment(tmp_path / "qemu-aarch64", "10.0.2", tmp_path / "sysroot", [tmp_path / "ort"])
    assert env.python("neoverse-n1") == [str(tmp_path / "qemu-aarch64"), "-cpu", "neoverse-n1", "-L",
                                         str(tmp_path / "sysroot"), str(tmp_path / "sysroot/usr/bin/python3.11")]
    assert "-cpu" not in env.python()
    guest = env.env([tmp_path / "repo"])
    assert guest["PYTHONPATH"].split(":") == [str(tmp_path / "repo"), str(tmp_path / "ort")]
    assert "OPENBLAS_CORETYPE" not in guest


@pytest.mark.slow
def test_suite_on_the_host_agrees_with_itself_and_catches_a_change(reference_bundles: dict, tmp_path: Path) -> None:
    """The real suite on this machine (int8 reference bundle, 8 recordings, every audio format)."""
    items = portability.read_items(REFERENCE / "eval.tsv")[::15]
    manifest = tmp_path / "eval.tsv"
    manifest.write_text("path\ttranscript\tlabel\n" + "".join(f"{p}\tx\t{label}\n" for _, p, label in items),
                        encoding="utf-8")
    formats = portability.write_formats(tmp_path / "formats", items)
    assert len(list(formats.iterdir())) == len(portability.AUDIO_FORMATS) * portability.FORMAT_SOURCES
    bundles = {"int8": reference_bundles["int8"]}
    answers = run_suite(tmp_path / "run", manifest, bundles, "int8", formats)
    assert answers == json.loads((tmp_path / "run" / ANSWERS).read_text(encoding="utf-8"))
    with np.load(tmp_path / "run" / ARRAYS) as npz:
        arrays = {k: npz[k] for k in npz.files}
    names = [name for name, _ in read_manifest(manifest)]
    assert sorted(answers["modes"]["int8"]) == sorted(names)
    assert all(f"logits/int8/{n}" in arrays for n in names)
    cli = answers["cli"]
    assert (cli["predict"]["exit_code"], cli["missing_file"]["exit_code"], cli["missing_bundle"]["exit_code"],
            cli["eval"]["exit_code"]) == (0, 1, 2, 0)
    assert "absent.wav" in cli["missing_file"]["stderr"] and cli["missing_file"]["lines_out"] == 1
    assert all("error" not in a for a in answers["formats"].values())

    truth = {name: label for name, label in zip(names, (label for _, _, label in items))}
    same = portability_compare.compare_run(answers, answers, arrays, arrays, truth, "int8")
    assert same["identical"] and same["cli"]["host"]["records_equal_library"]
    # Formats of one recording decode to the same 8 kHz content: same transcript across containers.
    texts = {n.split(".")[0]: set() for n in answers["formats"]}
    for n, a in answers["formats"].items():
        if not n.endswith(("vorbis.ogg", "stereo-44k1.wav")):
            texts[n.split(".")[0]].add(a["text"])
    assert all(len(t) == 1 for t in texts.values())

    changed = copy.deepcopy(answers)
    first = names[0]
    changed["modes"]["int8"][first]["text"] += " x"
    result = portability_compare.compare_run(answers, changed, arrays, arrays, truth, "int8")
    assert not result["identical"] and result["modes"]["int8"]["differing"] == [first]


def test_cpu_specs_choose_modes() -> None:
    modes = ["fp32", "int8", "fp16"]
    assert portability.parse_cpu("neoverse-n1", modes) == ("neoverse-n1", modes)
    assert portability.parse_cpu("max:int8", modes) == ("max", ["int8"])
    assert portability.parse_cpu("max:fp16,int8", modes) == ("max", ["int8", "fp16"])
    for bad in ("max:fp32", "max:int4,int8", ":int8"):
        with pytest.raises(ValueError, match="bad CPU spec"):
            portability.parse_cpu(bad, modes)
    assert all(portability.parse_cpu(spec, modes) for spec in portability.DEFAULT_CPUS)


def test_markdown_marks_modes_not_run() -> None:
    report = _report(True)
    report["modes"]["fp32"] = "--quantize none"
    report["runs"][0]["modes"] = {"int8": report["runs"][0]["modes"]["int8"]}
    text = "\n".join(portability_compare.markdown(report))
    assert "| 2/2 / 2/2 | not run | 3.0e-06 | – |" in text


def test_eval_reports_compare_floats_to_the_last_digits_only() -> None:
    a = {"Weighted avg": {"F1-score": 0.9142857142857143, "Support": 12}, "labels": ["0", "1"]}
    b = {"Weighted avg": {"F1-score": 0.9142857142857144, "Support": 12}, "labels": ["0", "1"]}
    assert portability_compare.same_report(a, b)
    assert not portability_compare.same_report(a, {**b, "Weighted avg": {"F1-score": 0.9143, "Support": 12}})
    assert not portability_compare.same_report(a, {**b, "labels": ["0", "2"]})
    assert not portability_compare.same_report({"n": 12}, {"n": 12.0})
    assert not portability_compare.same_report(a, {"Weighted avg": a["Weighted avg"]})

"""The public API's shape: exports, renamed methods, ONNX Runtime options, class decisions, batching policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import phonedge
from phonedge.batch_policy import BatchPolicy, batch_groups
from phonedge.cli import main
from phonedge.decide import ClassDecider, ctc_decision
from phonedge.errors import InvalidInputError, PhonedgeError, ProviderError
from phonedge.manifest import ClassLabel

RATE = 16000


def test_errors_and_stream_types_are_exported() -> None:
    for name in ("ProviderError", "AudioTooShortError", "StreamError", "StreamClosedError", "StreamRateError",
                 "Stream", "StreamEvent", "StreamOptions", "Classify"):
        assert name in phonedge.__all__ and hasattr(phonedge, name)
    assert issubclass(phonedge.ProviderError, phonedge.PhonedgeError)


def test_session_and_provider_options_pass_through(layer_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime as ort

    seen = {}
    real = ort.InferenceSession

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", spy)
    rec = phonedge.load(layer_bundle, session_options={"log_severity_level": 3, "enable_cpu_mem_arena": False},
                        provider_options={"arena_extend_strategy": "kSameAsRequested"})
    options = rec._session.get_session_options()
    assert options.log_severity_level == 3 and options.enable_cpu_mem_arena is False
    assert seen["provider_options"] == [{"arena_extend_strategy": "kSameAsRequested"}]
    with pytest.raises(ProviderError, match="no option 'not_an_option'"):
        phonedge.load(layer_bundle, session_options={"not_an_option": 1})
    with pytest.raises(ProviderError, match="refused"):
        phonedge.load(layer_bundle, session_options={"log_severity_level": "loud"})


def test_no_class_fits_no_label() -> None:
    # Two frames cannot hold a three-label target: every class is impossible.
    log_probs = np.log(np.full((2, 4), 0.25))
    label, probs = ctc_decision(log_probs, [[1, 2, 3], [3, 2, 1]], 0, ["a", "b"])
    assert label is None and probs == {"a": 0.5, "b": 0.5}
    label, _ = ctc_decision(np.log(np.full((8, 4), 0.25)), [[1, 2, 3], [1]], 0, ["a", "b"])
    assert label in ("a", "b")


def test_decider_refuses_unknown_methods_and_units(reference_bundles: dict) -> None:
    rec = phonedge.load(reference_bundles["int8"])
    with pytest.raises(PhonedgeError, match="classify must be one of ctc, nearest"):
        rec.decider(classify="best")
    with pytest.raises(PhonedgeError, match="class 'x'"):
        ClassDecider(rec.manifest.tokenizer, [ClassLabel("x", "x", "no such units")])


def test_batching_policy_follows_the_manifest(reference_bundles: dict, layer_bundle: Path,
                                              layer_bundle_nomask: Path) -> None:
    assert phonedge.load(reference_bundles["int8"]).batch_policy is BatchPolicy.ONE_BY_ONE
    assert phonedge.load(layer_bundle).batch_policy is BatchPolicy.PADDED
    assert phonedge.load(layer_bundle_nomask).batch_policy is BatchPolicy.EQUAL_LENGTH
    lengths = [5, 3, 5, 9, 3, 5]
    assert batch_groups(BatchPolicy.ONE_BY_ONE, lengths, 4) == [[i] for i in range(6)]
    assert batch_groups(BatchPolicy.EQUAL_LENGTH, lengths, 2) == [[0, 2], [5], [1, 4], [3]]
    assert batch_groups(BatchPolicy.PADDED, lengths, 4) == [[1, 4, 0, 2], [5, 3]]


def test_batch_size_on_a_dynamic_int8_bundle_says_it_does_nothing(reference_bundles: dict,
                                                                  real_recordings: list) -> None:
    files = [str(p) for p in real_recordings[:2]]
    runner = CliRunner()
    int8 = runner.invoke(main, ["predict", *files, "--model", str(reference_bundles["int8"]),
                                             "--batch-size", "4"])
    assert int8.exit_code == 0 and "--batch-size 4 has no effect" in int8.stderr
    fp32 = runner.invoke(main, ["predict", *files, "--model", str(reference_bundles["none"]),
                                             "--batch-size", "4"])
    assert fp32.exit_code == 0 and "no effect" not in fp32.stderr


def test_scoring_and_metrics_raise_phonedge_errors() -> None:
    from phonedge.metrics import error_rate
    from phonedge.scoring import ctc_log_likelihood

    with pytest.raises(InvalidInputError):
        ctc_log_likelihood(np.zeros(3), [1], 0)
    with pytest.raises(PhonedgeError, match="pair up"):
        error_rate([["a"]], [])

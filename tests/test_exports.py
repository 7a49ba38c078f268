"""The public API is whole: every error a caller can catch and every type a public signature takes is exported."""

from __future__ import annotations

import inspect
import typing
from pathlib import Path

import numpy as np
import pytest

import phonedge
from phonedge import errors


def test_every_error_class_is_exported() -> None:
    classes = {name for name, obj in vars(errors).items()
               if inspect.isclass(obj) and issubclass(obj, errors.PhonedgeError)}
    assert len(classes) >= 19
    assert classes <= set(phonedge.__all__)
    for name in classes:
        assert getattr(phonedge, name) is getattr(errors, name)


def test_all_names_exist_and_have_docstrings() -> None:
    assert len(set(phonedge.__all__)) == len(phonedge.__all__)
    for name in phonedge.__all__:
        obj = getattr(phonedge, name)
        if name != "__version__" and (inspect.isclass(obj) or inspect.isfunction(obj)):
            assert (obj.__doc__ or "").strip(), name


def _public_types(func: typing.Callable[..., object]) -> set[str]:
    hints = typing.get_type_hints(func, vars(phonedge.recognizer) | vars(phonedge.stream))
    names: set[str] = set()
    stack = list(hints.values())
    while stack:
        hint = stack.pop()
        stack.extend(typing.get_args(hint))
        module = getattr(hint, "__module__", "")
        if module.startswith("phonedge") and hasattr(hint, "__name__"):
            names.add(hint.__name__)
    return names


@pytest.mark.parametrize("func", [
    phonedge.load, phonedge.Recognizer.predict, phonedge.Recognizer.predict_batch, phonedge.Recognizer.stream,
    phonedge.Recognizer.predict_each, phonedge.Recognizer.align,
    phonedge.Stream.__init__, phonedge.Stream.accept,
])
def test_types_in_public_signatures_are_exported(func: typing.Callable[..., object]) -> None:
    missing = _public_types(func) - set(phonedge.__all__) - {"AudioInput"}
    assert missing == set()


def test_control_a_signature_type_is_seen() -> None:
    assert {"ClassLabel", "Prediction"} <= _public_types(phonedge.Recognizer.predict)


def test_moved_members_warn_and_still_work(layer_bundle: Path) -> None:
    rec = phonedge.load(layer_bundle)
    x = np.random.default_rng(1).normal(0, 0.1, 8000).astype(np.float32)
    with pytest.warns(DeprecationWarning, match="decoding.grid.frames_for"):
        assert rec.frames_for(8000) == rec.decoding.grid.frames_for(8000) == 24
    with pytest.warns(DeprecationWarning, match="decoding.ctc"):
        assert rec.decoder is rec.decoding.ctc
    with pytest.warns(DeprecationWarning, match="decoding.decider"):
        decider = rec.decider()
    with pytest.warns(DeprecationWarning, match="decoding.prediction"):
        old = rec.result(rec.logits(x), len(x), decider)
    assert old == rec.predict(x, 16000)


def test_microphone_error_keeps_its_old_home() -> None:
    from phonedge.live_input import MicrophoneError

    assert MicrophoneError is phonedge.MicrophoneError

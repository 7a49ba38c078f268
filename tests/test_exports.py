"""The public API is whole: every error a caller can catch and every type a public signature takes is exported."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

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
    phonedge.Stream.__init__, phonedge.Stream.accept, phonedge.Recognizer.prepare_audio,
    phonedge.Recognizer.batch_policy.fget,
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


def test_live_input_raises_the_exported_microphone_error() -> None:
    from phonedge.live_input import MicrophoneError

    assert MicrophoneError is phonedge.MicrophoneError


API_PAGE = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def _documented_names() -> set[str]:
    """The names in the first column of docs/api.md's tables, up to its "Renamed" section."""
    text = API_PAGE.read_text(encoding="utf-8").split("## Renamed")[0]
    return {m for m in re.findall(r"^\| `([A-Za-z_]+)` \|", text, flags=re.MULTILINE)}


def test_the_api_page_names_every_export_and_nothing_else() -> None:
    assert _documented_names() == set(phonedge.__all__)


def test_control_a_missing_export_is_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(phonedge, "__all__", [*phonedge.__all__, "NotDocumented"])
    assert _documented_names() != set(phonedge.__all__)


def _public_members(module: ModuleType) -> Iterator[tuple[str, object]]:
    """Each public class and function a module defines, and each public method or property of its classes."""
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj) or inspect.isfunction(obj):
            yield f"{module.__name__}.{name}", obj
        if inspect.isclass(obj):
            for member, value in vars(obj).items():
                target = value.fget if isinstance(value, property) else value
                if not member.startswith("_") and inspect.isfunction(target):
                    yield f"{module.__name__}.{name}.{member}", target


def test_everything_public_has_a_docstring() -> None:
    missing = []
    for info in pkgutil.walk_packages(phonedge.__path__, "phonedge."):
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # a room whose extra (Starlette, pyarrow, ray) is not installed here
            continue
        if not (module.__doc__ or "").strip() and not info.name.endswith("._version"):
            missing.append(info.name)
        missing += [name for name, obj in _public_members(module) if not (obj.__doc__ or "").strip()]
    assert missing == []

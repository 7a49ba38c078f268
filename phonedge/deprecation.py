"""Renamed names keep working for one release: the one rule for their warning and their aliases."""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Mapping
from typing import Any, Callable, TypeVar

REMOVED_IN = "0.3"

F = TypeVar("F", bound=Callable[..., Any])


def renamed_note(old: str, new: str) -> str:
    """The one sentence saying that OLD is renamed NEW (warnings and the command line's notes say it)."""
    return f"{old} is renamed {new}; the old name goes in {REMOVED_IN}"


def warn_renamed(old: str, new: str, stacklevel: int = 3) -> None:
    """Warn (DeprecationWarning, at the caller's caller) that OLD is renamed NEW."""
    warnings.warn(renamed_note(old, new), DeprecationWarning, stacklevel=stacklevel)


def renamed(new: F, old: str, new_name: str) -> F:
    """The function or method NEW under its old name OLD: it warns, then does exactly what NEW does."""

    @functools.wraps(new)
    def alias(*args: Any, **kwargs: Any) -> Any:
        warn_renamed(old, new_name)
        return new(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old.rsplit(".", 1)[-1]
    alias.__doc__ = f"Deprecated: renamed {new_name}; removed in {REMOVED_IN}."
    return alias  # type: ignore[return-value]


def renamed_attributes(module: str, renames: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving each old name in RENAMES as its new one in MODULE, with the warning."""

    def __getattr__(name: str) -> Any:
        if name not in renames:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new = renames[name]
        warn_renamed(f"{module}.{name}", f"{module}.{new}")
        return getattr(sys.modules[module], new)

    return __getattr__

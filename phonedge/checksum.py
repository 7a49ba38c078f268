"""sha256 of files, read in 1 MiB blocks: the one digest of bundles, checkpoints and benchmark stamps."""

from __future__ import annotations

import hashlib
import os
from typing import Iterable, Union

BLOCK = 1 << 20


def files_sha256(paths: Iterable[Union[str, "os.PathLike[str]"]]) -> str:
    """Hex sha256 of the files' bytes, concatenated in the given order (one file: that file's sha256)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(BLOCK), b""):
                digest.update(block)
    return digest.hexdigest()

"""Silero VAD for the on-device page: the installed ``silero-vad`` package's ONNX file and its licence text.

silero-vad is MIT-licensed: whoever copies the model file must keep its copyright notice and the permission
notice with it, so the page's folder gets both beside the file. The copyright line is read from the installed
package's licence file (or its metadata); the permission text is the standard MIT one.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Optional

from .vad import silero_model_path

SILERO_SITE_NAME = "silero_vad.onnx"
SILERO_LICENCE_NAME = "silero_vad.LICENSE.txt"
_MIT_CLASSIFIER = "License :: OSI Approved :: MIT License"
_MIT_PERMISSION = """\
Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def silero_for_site() -> Optional[tuple[Path, str]]:
    """The installed Silero VAD model file and its licence text, or None (not installed, or no longer MIT)."""
    model = silero_model_path()
    if model is None:
        return None
    dist = importlib.metadata.distribution("silero-vad")
    copyright_line = _copyright_line(dist)
    if copyright_line is None or not _is_mit(dist):
        return None
    return model, f"Silero VAD ({SILERO_SITE_NAME}), silero-vad {dist.version}\n\nMIT License\n\n" \
                  f"{copyright_line}\n\n{_MIT_PERMISSION}"


def _licence_texts(dist: importlib.metadata.Distribution) -> list[str]:
    texts = []
    for file in dist.files or []:
        if Path(str(file)).name.upper().startswith(("LICENSE", "LICENCE", "COPYING")):
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                texts.append(path.read_text(encoding="utf-8", errors="replace"))
    return texts


def _copyright_line(dist: importlib.metadata.Distribution) -> Optional[str]:
    """The package's copyright line: from its licence file, else 'Copyright (c) AUTHOR' from its metadata."""
    for text in _licence_texts(dist):
        for line in text.splitlines():
            if line.strip().lower().startswith("copyright"):
                return line.strip()
    author = _field(dist, "Author") or _field(dist, "Author-email").split("<")[0].strip()
    return f"Copyright (c) {author}" if author else None


def _is_mit(dist: importlib.metadata.Distribution) -> bool:
    declared = [_field(dist, "License-Expression"), _field(dist, "License")]
    return (_MIT_CLASSIFIER in (dist.metadata.get_all("Classifier") or []) or any(d.strip() == "MIT" for d in declared)
            or any(text.lstrip().startswith("MIT License") for text in _licence_texts(dist)))


def _field(dist: importlib.metadata.Distribution, name: str) -> str:
    values = dist.metadata.get_all(name) or []
    return str(values[0]) if values else ""

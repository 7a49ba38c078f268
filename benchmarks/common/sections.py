"""The sections of benchmarks/RESULTS.md that separate benchmarks own, kept between markers.

`make bench` regenerates RESULTS.md from its own results; the streaming, serve, batch,
quantization-mode, portability and GPU benchmarks run on their own (the GPU one on another
machine), and each owns one section between `<!-- section:NAME -->` markers, so a rerun of
either side replaces only its own part. Usage: python -m benchmarks.common.sections NAME FILE.md
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from benchmarks.common.paths import RESULTS_MD

_BLOCK = re.compile(r"<!-- section:(?P<name>[\w-]+) -->\n.*?<!-- /section:(?P=name) -->\n?", re.S)


def block(name: str, body: str) -> str:
    """BODY between the markers of section NAME."""
    return f"<!-- section:{name} -->\n{body.strip()}\n<!-- /section:{name} -->\n"


def blocks(document: str) -> dict[str, str]:
    """The marked sections of DOCUMENT by name, markers included, in document order."""
    return {m.group("name"): m.group(0) for m in _BLOCK.finditer(document)}


def put(document: str, name: str, body: str) -> str:
    """DOCUMENT with section NAME replaced by BODY (appended when absent, removed when BODY is blank)."""
    new = block(name, body) if body.strip() else ""
    old = blocks(document).get(name)
    if old is not None:
        return document.replace(old, new)
    return document.rstrip("\n") + "\n\n" + new if new else document


def carry_over(old: str, new: str) -> str:
    """NEW (a regenerated report) followed by every marked section of OLD that NEW lacks."""
    have = blocks(new)
    for name, text in blocks(old).items():
        if name not in have:
            new = new.rstrip("\n") + "\n\n" + text
    return new


def write(name: str, body: str, path: Path = RESULTS_MD) -> None:
    """Put section NAME with BODY into the results file at PATH."""
    text = path.read_text(encoding="utf-8") if path.is_file() else "# phonedge benchmark results\n"
    path.write_text(put(text, name, body), encoding="utf-8")


def main(argv: list[str]) -> int:
    """Put FILE.md's text into RESULTS.md as section NAME (e.g. a GPU run's gpu.md)."""
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    write(argv[0], Path(argv[1]).read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

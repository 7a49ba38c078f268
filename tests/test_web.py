"""The JS runtime in web/ gives the Python runtime's answers: Python writes fixtures, ``node --test`` checks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from phonedge.vad import vad_available

REPO = Path(__file__).resolve().parents[1]
WEB = REPO / "web"
NODE = shutil.which("node")
NPM = shutil.which("npm")
SILERO_JS_TESTS = 2  # web/test/stream.test.js's tests that need Silero VAD's model file

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(NODE is None, reason="node is absent (Debian: apt-get install nodejs npm): JS tests need it"),
]


def npm_ci() -> None:
    """Install web/'s npm dependencies from its lock file when they are not there (``make test`` does it first)."""
    if (WEB / "node_modules" / ".package-lock.json").is_file():
        return
    if NPM is None:
        pytest.fail("node is here but npm is not: install npm, then run 'npm ci' in web/")
    subprocess.run([NPM, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)


def test_node_gives_pythons_answers(reference_bundles: dict[str, Path], tmp_path: Path) -> None:
    npm_ci()
    fixtures = tmp_path / "fixtures"
    subprocess.run([sys.executable, str(WEB / "fixtures" / "make_fixtures.py"), str(reference_bundles["int8"]),
                    str(fixtures)], check=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])})
    tests = sorted(str(p) for p in (WEB / "test").glob("*.test.js"))
    run = subprocess.run([NODE, "--test", *tests], cwd=WEB, capture_output=True, text=True,
                         env={**os.environ, "PHONEDGE_WEB_FIXTURES": str(fixtures)})
    summary = "\n".join(line for line in run.stdout.splitlines() if line.startswith(("ok", "not ok", "# ")))
    assert run.returncode == 0, f"node --test failed:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
    # Only the Silero VAD tests may skip, and only where the silero-vad package is absent.
    skipped = 0 if vad_available() else SILERO_JS_TESTS
    assert "# fail 0" in run.stdout and f"# skipped {skipped}" in run.stdout, summary

"""The house's import rules: no cycles in phonedge/, export/ or benchmarks/, the layer contracts kept, and
the runtime's tests independent of benchmarks/."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp")

ROOT = Path(__file__).resolve().parents[1]


def import_cycles(package: str) -> list[list[str]]:
    """The strongly connected groups of more than one module in PACKAGE's import graph (Tarjan)."""
    graph = grimp.build_graph(package, include_external_packages=False)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    return cycles


@pytest.mark.parametrize("package", ["phonedge", "phonedge_export", "benchmarks"])
def test_no_import_cycles(package: str) -> None:
    assert import_cycles(package) == []


def test_cycle_finder_finds_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "loopy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("from . import c\n")
    (pkg / "c.py").write_text("from . import a\n")
    (pkg / "d.py").write_text("from . import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("loopy") == [["loopy.a", "loopy.b", "loopy.c"]]


def test_layer_contracts_kept() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed (the test extra has it)")
    done = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


# The tests of the benchmarks themselves; every other test tests the runtime (or the exporter) and stands without
# benchmarks/, so that the runtime's tests keep passing wherever the benchmark harness is absent or broken.
BENCHMARK_TESTS = {
    "test_arm_estimates.py", "test_bench_alignment.py", "test_bench_gpu.py", "test_bench_open_set.py",
    "test_bench_quick.py", "test_floor.py", "test_outliers.py", "test_portability.py", "test_quant_modes.py",
    "test_sections.py", "test_serve_load.py",
}


DOTTED = re.compile(r"benchmarks(\.\w+)+")


def benchmark_uses(source: str) -> list[str]:
    """The benchmarks modules SOURCE imports (anywhere, functions included) or names as a dotted string
    (``python -m benchmarks.X``, ``monkeypatch.setattr("benchmarks.X...")``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and DOTTED.fullmatch(node.value):
            found.append(node.value)
    return sorted(name for name in set(found) if name.split(".")[0] == "benchmarks")


def test_only_benchmark_tests_use_benchmarks() -> None:
    tests = sorted(Path(__file__).parent.glob("*.py"))  # this file names modules as data, and imports none
    tests = [path for path in tests if path.name != Path(__file__).name]
    users = {path.name: benchmark_uses(path.read_text(encoding="utf-8")) for path in tests}
    assert {name: uses for name, uses in users.items() if uses and name not in BENCHMARK_TESTS} == {}
    assert BENCHMARK_TESTS <= {path.name for path in tests}  # a renamed benchmark test must be renamed here too


def test_benchmark_uses_finds_every_form() -> None:
    source = ("import benchmarks.speed.floor\nfrom benchmarks.common import sections\n"
              "def f():\n    from benchmarks import run\n    return ['-m', 'benchmarks.platforms.gpu']\n"
              "import benchmarksish\nfrom . import benchmarks\ntext = 'see benchmarks.run for details'\n")
    assert benchmark_uses(source) == ["benchmarks", "benchmarks.common", "benchmarks.platforms.gpu",
                                      "benchmarks.speed.floor"]

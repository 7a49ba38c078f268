"""Which aarch64 onnxruntime versions run under which QEMU, and why some crash: the evidence behind setup.cfg.

For each QEMU build (benchmarks/platforms/arm64_env.QEMU_BUILDS) and onnxruntime version, the guest Python
imports onnxruntime and transcribes a few recordings with the int8 reference bundle; the outcome
(answers equal to the host's, an import error, or the signal that killed it) is recorded. With
``--cpuinfo-check`` (root, util-linux ``unshare``) the crashing case is rerun on QEMU 7.2 with an ARM
``/proc/cpuinfo`` (the one QEMU 10.0 shows its guest) bind-mounted in a private mount namespace: if it
then runs, the crash comes from reading the host's x86 ``/proc/cpuinfo``, not from the emulated CPU.
``--cpu`` sets the emulated CPU model of every run (QEMU's default is ``max``).

Usage: python -m benchmarks.platforms.arm64_probe [--versions 1.19.2 1.27.0 1.28.0 ...] [--qemu 10.0 7.2]
           [--cpu max,sme=off] [--cpuinfo-check] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from benchmarks.platforms import arm64_env, portability

RESULTS = portability.ROOT / "benchmarks" / "results" / "arm64_onnxruntime.json"
DEFAULT_VERSIONS = ("1.16.3", "1.17.3", "1.19.2", "1.22.1", "1.24.4", "1.26.0", "1.27.0", "1.28.0", "1.30.0",
                    "1.32.0")
RECORDINGS = 4
GUEST_SCRIPT = """
import json, sys
import onnxruntime, phonedge
rec = phonedge.load(sys.argv[1], threads=1)
print(json.dumps({"onnxruntime": onnxruntime.__version__,
                  "answers": {p: [r.text, r.label] for p in sys.argv[2:] for r in [rec.predict(p)]}}))
"""


def _outcome(proc: subprocess.CompletedProcess, expected: dict[str, Any]) -> dict[str, Any]:
    """What one guest run did: ran (and whether its answers equal the host's), or how it failed."""
    if proc.returncode == 0:
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        return {"status": "ran", "same_answers": got["answers"] == expected}
    tail = (proc.stderr or proc.stdout).strip().splitlines()
    signal = -proc.returncode if proc.returncode < 0 else None
    if "uncaught target signal 11" in (proc.stderr or "") or signal == 11:
        return {"status": "SIGSEGV", "detail": tail[-1] if tail else ""}
    if "ImportError" in (proc.stderr or ""):
        return {"status": "ImportError", "detail": next((line for line in reversed(tail) if "Error" in line), "")}
    return {"status": f"exit {proc.returncode}", "detail": tail[-1] if tail else ""}


def _guest(env: arm64_env.Arm64Environment, bundle: Path, files: Sequence[Path], cpu: Optional[str],
           prefix: Sequence[str] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, *env.python(cpu), "-c", GUEST_SCRIPT, str(bundle), *map(str, files)],
                          cwd=portability.ROOT, env=env.env([portability.ROOT]), capture_output=True, text=True,
                          timeout=900)


def probe(versions: Sequence[str], qemus: Sequence[str], cpu: Optional[str], cache: Path, cpuinfo_check: bool,
          ) -> dict[str, Any]:
    """Run every (QEMU, onnxruntime) pair; optionally the /proc/cpuinfo experiment on QEMU 7.2."""
    items = portability.read_items(portability.MANIFEST)
    files = [path for _, path, _ in items[:: len(items) // RECORDINGS]][:RECORDINGS]
    calibration = portability._calibration(cache, items)
    bundle = portability.export_bundles(cache, {"int8": ["--quantize", "int8"]}, calibration)["int8"]
    import phonedge

    host = phonedge.load(str(bundle), threads=1)
    expected = {str(p): [r.text, r.label] for p in files for r in [host.predict(str(p))]}
    rows = []
    for qemu in qemus:
        for version in versions:
            env = arm64_env.build(cache, qemu, version)
            row = {"qemu": env.qemu_version, "cpu": cpu or "QEMU's default (max)", "onnxruntime": version,
                   **_outcome(_guest(env, bundle, files, cpu), expected)}
            print(f"[probe] {row}", file=sys.stderr, flush=True)
            rows.append(row)
    result: dict[str, Any] = {"recordings": len(files), "rows": rows}
    crashing = [r["onnxruntime"] for r in rows
                if r["status"] == "SIGSEGV" and r["qemu"].startswith("qemu-aarch64 version 7.")]
    if cpuinfo_check and crashing and shutil.which("unshare"):
        new = arm64_env.build(cache, "10.0", crashing[-1])
        fake = cache / "arm-cpuinfo"
        show = "print(open('/proc/cpuinfo').read(), end='')"
        fake.write_text(subprocess.run([*new.python("neoverse-n1"), "-c", show], env=new.env(), capture_output=True,
                                       text=True, check=True).stdout)
        old = arm64_env.build(cache, "7.2", crashing[-1])
        wrapper = ["unshare", "-m", "sh", "-c", f"mount --bind {fake} /proc/cpuinfo && exec \"$@\"", "sh"]
        outcome = _outcome(_guest(old, bundle, files, cpu, prefix=wrapper), expected)
        result["cpuinfo_check"] = {"qemu": old.qemu_version, "cpu": cpu or "QEMU's default (max)",
                                   "onnxruntime": crashing[-1],
                                   "proc_cpuinfo": "ARM (QEMU 10.0's, -cpu neoverse-n1), bind-mounted", **outcome}
        print(f"[probe] cpuinfo check: {result['cpuinfo_check']}", file=sys.stderr, flush=True)
    return result


def main(argv: Optional[list[str]] = None) -> int:
    """Probe and write benchmarks/results/arm64_onnxruntime.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", nargs="+", default=list(DEFAULT_VERSIONS))
    parser.add_argument("--cache", type=Path, default=arm64_env.DEFAULT_CACHE)
    parser.add_argument("--qemu", nargs="+", choices=sorted(arm64_env.QEMU_BUILDS), default=list(arm64_env.QEMU_BUILDS))
    parser.add_argument("--cpu", help="QEMU CPU model, e.g. neoverse-n1 or max,sme=off (default: QEMU's, max)")
    parser.add_argument("--cpuinfo-check", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = probe(args.versions, args.qemu, args.cpu, args.cache, args.cpuinfo_check)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

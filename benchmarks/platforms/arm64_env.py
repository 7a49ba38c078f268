"""An emulated arm64 Python for the portability suite, built from package registries only and cached.

Debian's user-mode QEMU (amd64) runs Debian bookworm's arm64 ``python3.11``, unpacked with ``dpkg -x``
into a sysroot; the runtime's aarch64 wheels (at the versions of constraints.txt) are installed into
folders on ``PYTHONPATH`` by the host's pip. apt runs on a private state folder (its own sources, lists,
cache and an empty dpkg status), so the host's apt configuration is never touched. Every step leaves a
stamp naming what it built; a second run with the same inputs downloads nothing.

QEMU: bookworm-backports' 10.0 by default. Bookworm's own 7.2 passes the host's x86 ``/proc/cpuinfo``
through to the guest, and onnxruntime >= 1.28 (its cpuinfo library) crashes on import reading it
(SIGSEGV); 10.0 shows the guest an ARM ``/proc/cpuinfo`` of the emulated CPU (docs/platforms.md).

Usage: python -m benchmarks.platforms.arm64_env [--cache .cache/arm64] [--qemu 10.0|7.2] [--onnxruntime VERSION]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from benchmarks.common.paths import REPO as ROOT

DEFAULT_CACHE = ROOT / ".cache" / "arm64"
DEBIAN = "http://deb.debian.org/debian"
DEBIAN_SECURITY = "http://deb.debian.org/debian-security"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
SUITES = ((DEBIAN, "bookworm"), (DEBIAN, "bookworm-updates"), (DEBIAN_SECURITY, "bookworm-security"),
          (DEBIAN, "bookworm-backports"))
# The guest's userland: the interpreter (apt resolves its libraries) and the C++ runtime the wheels link.
SYSROOT_PACKAGES = ("python3.11", "libstdc++6")
GUEST_PYTHON = "usr/bin/python3.11"
# QEMU builds by short version: (Debian package, suite). 10.0's qemu-user binaries are static.
QEMU_BUILDS = {"10.0": ("qemu-user", "bookworm-backports"), "7.2": ("qemu-user-static", "bookworm")}
DEFAULT_QEMU = "10.0"
# The runtime's dependencies, pinned to constraints.txt so both architectures run the same versions.
RUNTIME_WHEELS = ("numpy", "soundfile", "soxr", "click")
WHEEL_PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_31_aarch64",
                   "manylinux_2_34_aarch64")


class EnvironmentBuildError(RuntimeError):
    """A step of building the emulated environment failed (its command and output are in the message)."""


def _log(message: str) -> None:
    print(f"[arm64] {message}", file=sys.stderr, flush=True)


def pinned_versions(constraints: Path, names: Sequence[str]) -> dict[str, str]:
    """The ``name==version`` pins of NAMES in a pip constraints file."""
    pins: dict[str, str] = {}
    for line in constraints.read_text(encoding="utf-8").splitlines():
        name, sep, version = line.split("#")[0].strip().partition("==")
        if sep and name.strip().lower() in names:
            pins[name.strip().lower()] = version.strip()
    missing = [n for n in names if n not in pins]
    if missing:
        raise EnvironmentBuildError(f"{constraints} pins no version of {', '.join(missing)}")
    return pins


def _run(argv: Sequence[str], **kwargs) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise EnvironmentBuildError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout[-2000:]}"
                                    f"{proc.stderr[-4000:]}")
    return proc.stdout


def _stamped(folder: Path, key: str) -> bool:
    stamp = folder / ".built"
    return stamp.is_file() and stamp.read_text(encoding="utf-8") == key


def _stamp(folder: Path, key: str) -> None:
    (folder / ".built").write_text(key, encoding="utf-8")


@dataclass
class Apt:
    """apt-get on a private state folder: its own sources, lists, archive cache and an empty dpkg status."""

    root: Path

    def options(self) -> list[str]:
        """The -o options that point apt at the private state and allow arm64 and amd64 packages."""
        return [f"-oDir::State::Lists={self.root / 'lists'}", f"-oDir::Cache={self.root / 'cache'}",
                f"-oDir::Etc::SourceList={self.root / 'sources.list'}", "-oDir::Etc::SourceParts=/dev/null",
                f"-oDir::State::status={self.root / 'status'}", "-oAPT::Architecture=arm64",
                "-oAPT::Architectures::=arm64", "-oAPT::Architectures::=amd64", "-oDebug::NoLocking=1",
                "-oAPT::Sandbox::User=root", "-oAcquire::Retries=3", "-q"]

    def update(self, force: bool = False) -> None:
        """Write the sources and fetch the package lists (once, or again with FORCE)."""
        sources = "".join(f"deb [arch=arm64,amd64 signed-by={KEYRING}] {url} {suite} main\n" for url, suite in SUITES)
        if not force and _stamped(self.root, sources):
            return
        for sub in ("lists/partial", "cache/archives/partial"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "sources.list").write_text(sources, encoding="utf-8")
        (self.root / "status").write_text("", encoding="utf-8")
        _log("apt-get update (private lists: bookworm arm64 + amd64, bookworm-backports)")
        _run(["apt-get", *self.options(), "update"])
        _stamp(self.root, sources)

    def closure(self, packages: Sequence[str]) -> list[tuple[str, str, str]]:
        """(name, version, architecture) of arm64 PACKAGES and all they depend on, as apt resolves them."""
        out = _run(["apt-get", *self.options(), "install", "--simulate", "--no-install-recommends", "-y",
                    *[f"{p}:arm64" for p in packages]])
        found = []
        for line in out.splitlines():
            # Inst libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [arm64]) []
            if line.startswith("Inst "):
                name = line.split()[1].split(":")[0]
                inside = line.split("(", 1)[1].split(")", 1)[0]
                found.append((name, inside.split()[0], inside.rsplit("[", 1)[1].rstrip("]")))
        if not found:
            raise EnvironmentBuildError(f"apt resolved nothing for {', '.join(packages)}:\n{out[-2000:]}")
        return found

    def download_closure(self, packages: Sequence[str]) -> list[Path]:
        """PACKAGES for arm64 and every package they depend on, as .deb files in the private cache."""
        wanted = self.closure(packages)
        _run(["apt-get", *self.options(), "install", "--download-only", "--no-install-recommends", "-y",
              *[f"{p}:arm64" for p in packages]])
        archives = self.root / "cache" / "archives"
        debs = [archives / f"{name}_{version.replace(':', '%3a')}_{arch}.deb" for name, version, arch in wanted]
        missing = [d.name for d in debs if not d.is_file()]
        if missing:
            raise EnvironmentBuildError(f"apt-get left no {', '.join(missing)} in {archives}")
        return debs

    def download(self, package: str, dest: Path) -> Path:
        """One amd64 package (``name/suite``) as a .deb in DEST."""
        dest.mkdir(parents=True, exist_ok=True)
        _run(["apt-get", *self.options(), "download", f"{package.split('/')[0]}:amd64/{package.split('/')[1]}"],
             cwd=dest)
        found = sorted(dest.glob(f"{package.split('/')[0]}_*_amd64.deb"))
        if not found:
            raise EnvironmentBuildError(f"apt-get download {package} left no .deb in {dest}")
        return found[-1]


@dataclass
class Arm64Environment:
    """A built environment: how to run the guest Python, and what it is made of."""

    qemu: Path
    qemu_version: str
    sysroot: Path
    site: list[Path]
    versions: dict[str, str] = field(default_factory=dict)

    def python(self, cpu: Optional[str] = None) -> list[str]:
        """argv prefix that runs the guest's python3.11 (on the emulated CPU model CPU, else QEMU's default)."""
        return [str(self.qemu), *(["-cpu", cpu] if cpu else []), "-L", str(self.sysroot),
                str(self.sysroot / GUEST_PYTHON)]

    def env(self, extra_path: Sequence[Path] = ()) -> dict[str, str]:
        """A clean environment for the guest: its wheels (and EXTRA_PATH) on PYTHONPATH, nothing from the host."""
        return {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8",
                "PYTHONPATH": os.pathsep.join(str(p) for p in [*extra_path, *self.site]),
                "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1"}

    def describe(self) -> dict[str, object]:
        """What the environment is made of, for the report."""
        return {"qemu": self.qemu_version, "sysroot_python": "Debian bookworm python3.11 (arm64)",
                "wheels": dict(self.versions)}


def _build_sysroot(apt: Apt, cache: Path) -> Path:
    sysroot = cache / "sysroot"
    try:
        debs = apt.download_closure(SYSROOT_PACKAGES)
    except EnvironmentBuildError:  # lists older than the archive (a superseded security update): refresh once
        apt.update(force=True)
        debs = apt.download_closure(SYSROOT_PACKAGES)
    key = "\n".join(d.name for d in debs)
    if _stamped(sysroot, key):
        return sysroot
    _log(f"unpacking {len(debs)} arm64 packages into {sysroot}")
    sysroot.mkdir(parents=True, exist_ok=True)
    for deb in debs:
        _run(["dpkg-deb", "-x", str(deb), str(sysroot)])
    _stamp(sysroot, key)
    return sysroot


def _build_qemu(apt: Apt, cache: Path, version: str) -> tuple[Path, str]:
    package, suite = QEMU_BUILDS[version]
    folder = cache / f"qemu-{version}"
    if not _stamped(folder, package + suite):
        _log(f"downloading {package} from {suite}")
        deb = apt.download(f"{package}/{suite}", cache / "debs")
        _run(["dpkg-deb", "-x", str(deb), str(folder)])
        deb.unlink()
        for other in (folder / "usr" / "bin").glob("qemu-*"):  # ~360 MB of other targets
            if other.name not in ("qemu-aarch64", "qemu-aarch64-static"):
                other.unlink()
        _stamp(folder, package + suite)
    binary = next((p for p in (folder / "usr/bin/qemu-aarch64", folder / "usr/bin/qemu-aarch64-static")
                   if p.is_file()), None)
    if binary is None:
        raise EnvironmentBuildError(f"{package} from {suite} holds no qemu-aarch64 binary")
    return binary, _run([str(binary), "--version"]).splitlines()[0]


def _pip_target(target: Path, requirements: Sequence[str], no_deps: bool) -> Path:
    key = " ".join(requirements)
    if _stamped(target, key):
        return target
    _log(f"pip: aarch64 wheels {key} -> {target}")
    platforms = [arg for plat in WHEEL_PLATFORMS for arg in ("--platform", plat)]
    _run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--upgrade",
          "--only-binary=:all:", *platforms, "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
          *(["--no-deps"] if no_deps else []), "--target", str(target), *requirements])
    _stamp(target, key)
    return target


def build(cache: Path = DEFAULT_CACHE, qemu: str = DEFAULT_QEMU, onnxruntime: Optional[str] = None,
          constraints: Path = ROOT / "constraints.txt") -> Arm64Environment:
    """Build (or reuse) the emulated environment; onnxruntime defaults to the constraints' pin."""
    if qemu not in QEMU_BUILDS:
        raise EnvironmentBuildError(f"unknown QEMU build {qemu!r}; use one of {', '.join(QEMU_BUILDS)}")
    pins = pinned_versions(constraints, (*RUNTIME_WHEELS, "onnxruntime"))
    ort = onnxruntime or pins["onnxruntime"]
    cache.mkdir(parents=True, exist_ok=True)
    apt = Apt(cache / "apt")
    apt.update()
    sysroot = _build_sysroot(apt, cache)
    binary, qemu_version = _build_qemu(apt, cache, qemu)
    runtime = [f"{name}=={pins[name]}" for name in RUNTIME_WHEELS]
    base = _pip_target(cache / "site" / ("runtime-" + hashlib.sha256(" ".join(runtime).encode()).hexdigest()[:12]),
                       runtime, no_deps=False)
    # onnxruntime's own dependencies (protobuf, sympy, ...) serve its tools, not InferenceSession.
    ort_site = _pip_target(cache / "site" / f"onnxruntime-{ort}", [f"onnxruntime=={ort}"], no_deps=True)
    versions = {name: pins[name] for name in RUNTIME_WHEELS} | {"onnxruntime": ort}
    return Arm64Environment(binary, qemu_version, sysroot, [ort_site, base], versions)


def main(argv: Optional[list[str]] = None) -> int:
    """Build the environment and print how to run its Python."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--qemu", choices=sorted(QEMU_BUILDS), default=DEFAULT_QEMU)
    parser.add_argument("--onnxruntime", help="aarch64 onnxruntime version (default: constraints.txt's)")
    args = parser.parse_args(argv)
    try:
        env = build(args.cache, args.qemu, args.onnxruntime)
    except EnvironmentBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"python": env.python(), "PYTHONPATH": env.env()["PYTHONPATH"], **env.describe()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

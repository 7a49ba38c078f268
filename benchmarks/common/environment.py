"""Where the benchmark ran: CPU, the instruction sets int8 kernels use, cores, memory, package versions."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

# The flags that decide which int8/fp32 kernels ONNX Runtime, PyTorch and CTranslate2 pick on x86.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile",
             "amx_int8", "amx_bf16")
PACKAGES = ("phonedge", "numpy", "onnxruntime", "onnxruntime-gpu", "torch", "transformers", "optimum",
            "optimum-onnx", "onnx", "ctranslate2", "soxr", "soundfile")


def cpu_info(path: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    """CPU model name and the relevant instruction-set flags, from /proc/cpuinfo (Linux)."""
    model, flags = platform.processor() or platform.machine(), set()
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("", platform.machine(), platform.processor()):
                model = value.strip()
            elif key.strip() in ("flags", "Features") and not flags:
                flags = set(value.split())
    return {"model": model, "isa": {flag: flag in flags for flag in ISA_FLAGS}, "logical_cpus": os.cpu_count(),
            "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None}


def cpu_line() -> str:
    """The CPU in one line for a results section: model name and logical CPU count."""
    cpu = cpu_info()
    return f"{cpu['model']} ({cpu['logical_cpus']} logical CPUs)"


def memory_gib() -> float | None:
    """Total memory in GiB."""
    try:
        import psutil

        return round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        return None


def versions() -> dict[str, str]:
    """Installed versions of the packages that shape the figures."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    if "phonedge" not in found:
        import phonedge

        found["phonedge"] = f"{phonedge.__version__} (source tree)"
    return found


def git_commit(repo: Path) -> str | None:
    """The checkout's commit (with '+dirty' when files differ), or None outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True,
                              timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def load_average() -> list[float] | None:
    """1/5/15-minute load averages at the start (a busy machine skews every figure)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def describe(repo: Path) -> dict[str, Any]:
    """Everything RESULTS.md states about the machine and software."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_info(),
        "memory_gib": memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions(),
        "git_commit": git_commit(repo),
        "load_average_at_start": load_average(),
    }


def cuda_status() -> tuple[bool, str]:
    """Whether both PyTorch and ONNX Runtime can use a CUDA device, and a line saying so."""
    try:
        import onnxruntime as ort

        providers = ort.get_available_providers()
    except ImportError:
        providers = []
    try:
        import torch

        torch_cuda = bool(torch.cuda.is_available())
        device = torch.cuda.get_device_name(0) if torch_cuda else None
    except ImportError:
        torch_cuda, device = False, None
    ort_cuda = "CUDAExecutionProvider" in providers
    if torch_cuda and ort_cuda:
        return True, f"CUDA device: {device}"
    why = []
    if not torch_cuda:
        why.append("torch.cuda.is_available() is False")
    if not ort_cuda:
        why.append(f"onnxruntime has no CUDAExecutionProvider (providers: {', '.join(providers) or 'none'})")
    return False, "skipped: no CUDA device (" + "; ".join(why) + ")"

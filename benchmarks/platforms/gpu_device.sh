#!/usr/bin/env bash
# Run benchmarks/platforms/gpu.py on a lent GPU machine (see ../shared/gpu/README.md for how the wheels get there).
#
# Expects, on the device: /tmp/gpu/onnxruntime_gpu-*.whl (or its parts /tmp/gpu/ortpart*, joined here),
# the small wheels (transformers 4.57, tokenizers, huggingface-hub, optimum, optimum-onnx, soundfile,
# soxr, cffi ...) in /tmp/gpu/whl/ and/or .gpu/whl/ or .gpu/small/ of this tree. Installs them with pip --no-index into
# /tmp/site (once: reused while the machine stays warm), checks that ONNX Runtime lists
# CUDAExecutionProvider, and runs the benchmark under `timeout`. Everything lands in $OUT:
#   device.log (this script's output), env.txt, nvidia-smi.txt, gpu/gpu.json, gpu/gpu.md.
# Environment: OUT (default /tmp/out), BENCH_TIMEOUT (s, default 340), BENCH_ARGS (extra arguments,
# e.g. "--variants 1" to add the optional CPU-form export, "--quick"), BENCH_BUDGET (s after which optional variants are skipped, default 260); for a dry
# run elsewhere: GPU_WHEELS (default /tmp/gpu), SITE (default /tmp/site), PYTHON (default python3),
# REQUIRE_CUDA=0 (go on without CUDAExecutionProvider, e.g. with BENCH_ARGS="--quick --provider cpu").
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/device.log") 2>&1
cd "$(dirname "$0")/../.."
echo "== phonedge GPU benchmark: $(date -u +%FT%TZ) in $PWD"

W=${GPU_WHEELS:-/tmp/gpu}
SITE=${SITE:-/tmp/site}
PY=${PYTHON:-python3}
ORT_WHL=$(ls "$W"/onnxruntime_gpu-*.whl 2>/dev/null | head -n 1)
if [ -z "$ORT_WHL" ] && ls "$W"/ortpart* >/dev/null 2>&1; then
    ORT_WHL=$W/onnxruntime_gpu-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl
    cat $(ls "$W"/ortpart* | sort) > "$ORT_WHL"
fi
SMALL=$(ls "$W"/whl/*.whl .gpu/whl/*.whl .gpu/small/*.whl 2>/dev/null | grep -v '/onnxruntime_gpu-' || true)
if [ ! -d "$SITE/onnxruntime" ] || [ ! -d "$SITE/transformers" ] || [ ! -d "$SITE/optimum" ]; then
    if [ -z "$ORT_WHL" ]; then echo "ERROR: no onnxruntime-gpu wheel in $W"; exit 3; fi
    echo "== installing into $SITE: $(basename "$ORT_WHL") $(echo $SMALL | xargs -n1 basename 2>/dev/null | tr '\n' ' ')"
    "$PY" -m pip install -q --upgrade --no-index --no-deps --target "$SITE" "$ORT_WHL" $SMALL || { echo "ERROR: pip install failed"; exit 3; }
else
    echo "== $SITE already holds onnxruntime, transformers and optimum (warm machine); not reinstalling"
fi

SP=$("$PY" -c 'import site; print(site.getsitepackages()[0])')
export LD_LIBRARY_PATH="$SP/nvidia/cu13/lib:$SP/nvidia/cudnn/lib:$SP/nvidia/cublas/lib:${LD_LIBRARY_PATH:-}"
mkdir -p /tmp/phonedge-names && ln -sfn "$PWD/export" /tmp/phonedge-names/phonedge_export
export PYTHONPATH="$SITE:$PWD:/tmp/phonedge-names" PYTHONUNBUFFERED=1

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
"$PY" - > "$OUT/env.txt" 2>&1 <<'EOF'
import importlib
for name in ("onnxruntime", "torch", "transformers", "optimum", "onnx", "numpy", "soundfile", "soxr", "click"):
    try:
        module = importlib.import_module(name)
        print(name, getattr(module, "__version__", "?"), getattr(module, "__file__", ""))
    except Exception as exc:
        print(name, "IMPORT FAILED:", type(exc).__name__, exc)
import onnxruntime as ort
print("providers", ort.get_available_providers())
EOF
cat "$OUT/env.txt"
"$PY" -c 'import onnxruntime as o, sys; sys.exit(0 if "CUDAExecutionProvider" in o.get_available_providers() else 4)' \
    || { echo "ERROR: CUDAExecutionProvider is not available"; [ "${REQUIRE_CUDA:-1}" = 0 ] || exit 4; }

timeout "${BENCH_TIMEOUT:-340}" "$PY" -m benchmarks.platforms.gpu --out "$OUT/gpu" --cache /tmp/gpu-cache \
    --budget-s "${BENCH_BUDGET:-260}" ${BENCH_ARGS:-}
rc=$?
echo "== benchmarks.platforms.gpu exit code $rc (124 = timed out; results so far are in $OUT/gpu)"
exit $rc

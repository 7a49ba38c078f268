# The README's two commands: `make demo` (the main job on the committed reference model) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
BUNDLE := bundles/reference-int8
# The open-set threshold is calibrated on FSDD training recordings in ../shared/fsdd (reference/make_calibration.py);
# without them the bundle keeps the runtime's documented default threshold.
REJECT_CAL := $(if $(wildcard ../shared/fsdd/recordings/0_george_5.wav),--reject-calibration reference/calibration/calibration.tsv,)
DEMO_FILES := reference/audio/0_jackson_0.wav reference/audio/1_theo_1.wav reference/audio/2_nicolas_2.wav reference/audio/3_yweweler_3.wav

.PHONY: demo test test-runtime test-arm64 bench bench-quick clean browser praat serve bench-serve web-deps fuzz bench-limits soak

$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e '.[export,test,bench,serve,mic,batch,ray,align]'
	# The live stream's optional VAD: only its ONNX file is used; --no-deps keeps its torch requirement out.
	$(PIP) install --quiet --no-deps -c constraints.txt silero-vad
	touch $(STAMP)

$(BUNDLE)/phonedge.json: $(STAMP) reference/model/model.safetensors reference/labels.tsv reference/calibration/calibration.tsv
	$(VENV)/bin/phonedge export reference/model -o $(BUNDLE) --quantize int8 \
		--labels reference/labels.tsv --calibration-audio reference/audio $(REJECT_CAL) --overwrite

demo: $(BUNDLE)/phonedge.json
	@echo "== phonedge predict (real FSDD recordings, 8 kHz -> 16 kHz) =="
	$(VENV)/bin/phonedge predict --model $(BUNDLE) --timestamps $(DEMO_FILES)
	@echo "== phonedge eval on the 120-utterance FSDD test split (digits 0-3) =="
	$(VENV)/bin/phonedge eval $(BUNDLE) --eval-list reference/eval.tsv

test: $(STAMP) browser praat web-deps
	$(VENV)/bin/ruff check phonedge export benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

# Same answers on arm64: an emulated arm64 Python (QEMU, Debian arm64 packages, aarch64 wheels; cached in
# .cache/arm64) runs every bundle mode of the reference model; writes benchmarks/results/portability.json.
test-arm64: $(STAMP)
	$(PY) -m benchmarks.platforms.portability

# Debian's Chromium and its driver for the live page's browser test; where they cannot be installed
# (not root, no apt) the test skips and says why.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver) \
		|| echo "warning: could not install chromium chromium-driver; the browser test will skip"; \
	else echo "note: no chromium and no root apt-get; the browser test will skip"; fi

# Debian's praat for the alignment test that has Praat read a TextGrid back; it skips where praat cannot be installed.
praat:
	@if command -v praat >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends praat) \
		|| echo "warning: could not install praat; the TextGrid read-back test will skip"; \
	else echo "note: no praat and no root apt-get; the TextGrid read-back test will skip"; fi

# The JS runtime's npm dependencies (web/), exactly as web/package-lock.json pins them; tests/test_web.py runs the
# JS tests (node --test) on fixtures Python writes, and skips, saying so, only where node is absent.
web-deps:
	@if command -v npm >/dev/null; then cd web && npm ci --no-audit --no-fund --loglevel=error; \
	else echo "note: no node/npm; tests/test_web.py will skip (Debian: apt-get install nodejs npm)"; fi

serve: $(BUNDLE)/phonedge.json
	$(VENV)/bin/phonedge serve $(BUNDLE)

bench-serve: $(BUNDLE)/phonedge.json
	$(PY) -m benchmarks.serving.serve_load --bundle $(BUNDLE)

# Issue #23: the server's fuzz run (10,000 seeded Hypothesis cases per surface, reference bundle; found cases
# become @examples in tests/test_serve_fuzz.py), then long files in blocks and the decoded-audio limits.
fuzz: $(BUNDLE)/phonedge.json
	PHONEDGE_FUZZ_EXAMPLES=10000 PHONEDGE_FUZZ_BUNDLE=$(BUNDLE) $(PY) -m pytest -q -p no:cacheprovider \
		tests/test_serve_fuzz.py

# 30 minutes of the serve load round against one server: RSS after each round, finals against the library.
soak: $(BUNDLE)/phonedge.json
	$(PY) -m benchmarks.serving.soak --bundle $(BUNDLE) --minutes 30 --write

bench-limits: $(BUNDLE)/phonedge.json
	$(PY) -m benchmarks.long_audio.long_file --bundle $(BUNDLE) --write
	$(PY) -m benchmarks.serving.serve_limits --bundle $(BUNDLE) --write

bench: $(STAMP)
	$(PY) -m benchmarks.run

bench-quick: $(STAMP)
	$(PY) -m benchmarks.run --quick

clean:
	rm -rf $(VENV) bundles build *.egg-info .cache/arm64

# The README's two commands: `make demo` (the main job on the committed reference model) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
BUNDLE := bundles/reference-int8
DEMO_FILES := reference/audio/0_jackson_0.wav reference/audio/1_theo_1.wav reference/audio/2_nicolas_2.wav reference/audio/3_yweweler_3.wav

.PHONY: demo test test-runtime bench bench-quick clean

$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e '.[export,test,bench]'
	touch $(STAMP)

$(BUNDLE)/phonedge.json: $(STAMP) reference/model/model.safetensors reference/labels.tsv
	$(VENV)/bin/phonedge export reference/model -o $(BUNDLE) --quantize int8 \
		--labels reference/labels.tsv --calibration-audio reference/audio --overwrite

demo: $(BUNDLE)/phonedge.json
	@echo "== phonedge predict (real FSDD recordings, 8 kHz -> 16 kHz) =="
	$(VENV)/bin/phonedge predict --model $(BUNDLE) --timestamps $(DEMO_FILES)
	@echo "== phonedge eval on the 120-utterance FSDD test split (digits 0-3) =="
	$(VENV)/bin/phonedge eval $(BUNDLE) --manifest reference/eval.tsv

test: $(STAMP)
	$(VENV)/bin/ruff check phonedge export
	$(VENV)/bin/mypy
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m benchmarks.run

bench-quick: $(STAMP)
	$(PY) -m benchmarks.run --quick

clean:
	rm -rf $(VENV) bundles build *.egg-info

# opencass — one command to set up and run, one to set up and test.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEMO   ?= demo

.PHONY: all venv test lint bench run clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

test: venv
	$(PY) -m pytest -q -p no:cacheprovider

lint: venv
	$(VENV)/bin/ruff check opencass tests bench
	$(VENV)/bin/ruff format --check opencass tests bench
	$(VENV)/bin/mypy opencass/codecs opencass/model.py opencass/settlement opencass/config

bench: venv
	$(PY) -m bench.codec_bench

run: venv
	$(PY) -m opencass.cli demo-sample $(DEMO)
	$(VENV)/bin/opencass validate $(DEMO)/billing-sample.hot
	$(VENV)/bin/opencass convert $(DEMO)/billing-sample.hot --to xml -o $(DEMO)/billing-sample.xml
	$(VENV)/bin/opencass validate $(DEMO)/billing-sample.xml --format json

clean:
	rm -rf $(VENV) build *.egg-info

# opencass — one command to set up and run, one to set up and test.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEMO   ?= demo

.PHONY: all venv test lint bench sshd run clean

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

bench: venv sshd
	$(PY) -m bench.codec_bench
	$(PY) -m bench.gateway_bench

# OpenSSH's sftp-server is the yardstick of the upload benchmark.
sshd:
	@test -x /usr/sbin/sshd || { [ "$$(id -u)" = 0 ] && apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server; } || \
	  echo "openssh-server not installed: the upload comparison will be skipped"

# Demo: a complete configuration in ./demo (made once), sample files, then the gateway.
run: venv
	$(VENV)/bin/opencass demo init $(DEMO) --sftp-port 2222
	$(VENV)/bin/opencass demo sample $(DEMO)/samples
	$(VENV)/bin/opencass serve --config $(DEMO)

clean:
	rm -rf $(VENV) build *.egg-info

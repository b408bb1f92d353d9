# opencass — one command to set up and run, one to set up and test.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEMO   ?= demo

.PHONY: all venv catalogs fonts test lint bench sshd run clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

# Message catalogs (opencass/locale/<lang>/LC_MESSAGES/<domain>.po) compiled to .mo.
catalogs: venv
	$(PY) -m opencass.outbox.i18n compile >/dev/null

# Fonts embedded in PDFs (DejaVu; WenQuanYi Micro Hei for Chinese, IPAGothic for Japanese)
# and poppler-utils (pdftotext/pdftoppm, used by the report tests).
FONT_FILES = /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf \
  /usr/share/fonts/truetype/wqy/wqy-microhei.ttc /usr/share/fonts/opentype/ipafont-gothic/ipag.ttf
fonts:
	@{ for f in $(FONT_FILES); do test -f $$f || exit 1; done; command -v pdftotext >/dev/null; } || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install \
	    -y -q fonts-dejavu-core fonts-wqy-microhei fonts-ipafont-gothic poppler-utils; } || \
	  echo "fonts not installed (need root): CJK PDFs fall back to another font or fail"

test: venv catalogs fonts
	$(PY) -m pytest -q -p no:cacheprovider

lint: venv
	$(VENV)/bin/ruff check opencass tests bench
	$(VENV)/bin/ruff format --check opencass tests bench
	$(VENV)/bin/mypy opencass/codecs opencass/model.py opencass/settlement opencass/config

bench: venv sshd catalogs fonts
	$(PY) -m bench.codec_bench
	$(PY) -m bench.gateway_bench
	$(PY) -m bench.close_bench
	$(PY) -m bench.reports_bench
	$(PY) -m bench.invoices_bench
	$(PY) -m bench.outbox_bench

# OpenSSH's sftp-server is the yardstick of the upload benchmark.
sshd:
	@test -x /usr/sbin/sshd || { [ "$$(id -u)" = 0 ] && apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server; } || \
	  echo "openssh-server not installed: the upload comparison will be skipped"

# Demo: a complete configuration in ./demo (made once), sample files, then the gateway.
run: venv catalogs fonts
	$(VENV)/bin/opencass demo init $(DEMO) --sftp-port 2222
	$(VENV)/bin/opencass demo sample $(DEMO)/samples
	# agent1's own SFTP server (the demo pushes its statements there), stopped with the gateway
	$(VENV)/bin/opencass demo push-server --dir $(DEMO)/agent1-server --port 2223 \
	  --username agent1 --authorized-key $(DEMO)/keys/push_to_agent1.pub \
	  --host-key $(DEMO)/keys/agent1_server_host_ed25519_key & \
	  trap 'kill $$! 2>/dev/null' EXIT INT TERM; \
	  $(VENV)/bin/opencass serve --config $(DEMO)

clean:
	rm -rf $(VENV) build *.egg-info

# opencass — one command to set up and run, one to set up and test.
#
# Python packages come from requirements.lock (exact versions with hashes, made by pip-tools);
# `make lock` adds what pyproject.toml newly asks for, `make lock-upgrade` moves every pin to the
# newest release pyproject.toml allows. Debian packages (fonts, poppler, OpenSSH, faketime) are
# installed by `make system` when missing (as root).
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
DEMO   ?= demo
# pip ignores the machine's pip configuration and extra indexes: the lock's hashes are PyPI's.
PIP     = $(PY) -m pip --isolated --disable-pip-version-check --timeout 180
LOCKVENV = .venv-lock
PIP_TOOLS = pip==26.3 pip-tools==7.7.0

# Debian packages the product and the tests use: PDF fonts (DejaVu; WenQuanYi Micro Hei for
# Chinese; IPAGothic for Japanese), poppler-utils (pdftotext reads reports back), OpenSSH (the
# reference SFTP client and server), rclone, lftp and curl (SFTP clients the tests upload with),
# faketime (make test-dates), qpdf (checks the structure of the PDFs opencass writes itself),
# PostgreSQL (the tests run the store on a private throw-away cluster of its binaries as well
# as on SQLite; the product needs it only with [store] url).
SYSTEM_PACKAGES = fonts-dejavu-core fonts-wqy-microhei fonts-ipafont-gothic poppler-utils \
  openssh-client openssh-server rclone lftp curl faketime postgresql qpdf
# Debian's Chromium for the portal's browser tests (driven by Playwright; it downloads no
# browser of its own), installed with what it recommends, as it was tried here.
BROWSER_PACKAGES = chromium


.PHONY: oidc-provider
.PHONY: all venv system catalogs bytecode test test-postgresql test-dates lint docs bench soak run lock lock-upgrade clean fonts sshd

all: test

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --no-deps --require-hashes -r requirements.lock
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

# $(call apt_install,PACKAGES,APT-OPTIONS): install the missing ones (as root), else say which.
define apt_install
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      $(2) $$missing >/dev/null || exit 1; \
	  else \
	    echo "missing Debian packages:$$missing (run make as root, or: sudo apt-get install$$missing)"; \
	    [ -z "$(REQUIRE_SYSTEM)" ] || exit 1; \
	  fi; \
	fi
endef

system:
	$(call apt_install,$(SYSTEM_PACKAGES),--no-install-recommends)
	$(call apt_install,$(BROWSER_PACKAGES),)
fonts sshd: system

# Message catalogs (opencass/locale/<lang>/LC_MESSAGES/<domain>.po) compiled to .mo.
catalogs: venv
	$(PY) -m opencass.documents.i18n compile >/dev/null

# The package's bytecode, so that a command starts without compiling it first (where
# PYTHONDONTWRITEBYTECODE is set Python never caches it; a changed module is compiled again).
bytecode: venv
	$(PY) -m compileall -q -j 0 opencass >/dev/null

# The whole suite on SQLite (tests/store on PostgreSQL as well) and, beside it, the end-to-end flows
# that go through every part of the store again on PostgreSQL: a private throw-away server
# (tests/kit/pg.py; OPENCASS_TEST_PG_URL names another). `make test-postgresql` runs the whole
# suite on PostgreSQL (12 minutes on 2 cores: both whole suites do not fit `make test`'s 15;
# CI runs both, .ci/run).
# Each process has its own private PostgreSQL server and temporary directories.
XDIST ?= -n 2
PG_TESTS = tests/gateway/test_lifecycle.py tests/gateway/test_import_lifecycle.py \
  tests/gateway/test_booking_rules.py tests/gateway/test_assess_xml.py \
  tests/billing/test_disputes.py tests/billing/test_camt.py tests/billing/test_withdrawal.py \
  tests/billing/test_risk.py tests/billing/test_payfiles.py tests/identity/test_migration.py \
  tests/outbox/test_outbox_e2e.py tests/gateway/test_gateway_e2e.py \
  tests/billing/test_remittance_e2e.py

# The portal's sign-in tests run a real OpenID Connect provider (panva's oidc-provider, on the
# machine's Node.js), installed from its lock file with integrity hashes.
OIDC_TEST = tests/portal/oidc
$(OIDC_TEST)/node_modules/.package-lock.json: $(OIDC_TEST)/package-lock.json
	cd $(OIDC_TEST) && npm ci --no-audit --no-fund --silent
oidc-provider: $(OIDC_TEST)/node_modules/.package-lock.json

# The end-to-end files on PostgreSQL run beside the suite in a process of their own (their
# output in test-artifacts/postgresql-tests.log, its end printed after the suite's): the suite
# keeps both cores busy, but this costs it ~1 min where running them after it costs ~4.
PG_BASETEMP = /tmp/opencass-pg-tests-$(shell id -u)
test: venv catalogs bytecode oidc-provider
	@$(MAKE) --no-print-directory system REQUIRE_SYSTEM=1
	@mkdir -p test-artifacts
	@OPENCASS_REQUIRE_TOOLS=1 OPENCASS_TEST_STORE=postgresql $(PY) -m pytest -q -p no:cacheprovider \
	  --basetemp=$(PG_BASETEMP) $(PG_TESTS) > test-artifacts/postgresql-tests.log 2>&1 & pg=$$!; \
	OPENCASS_REQUIRE_TOOLS=1 $(PY) -m pytest -q -p no:cacheprovider $(XDIST); sqlite=$$?; \
	wait $$pg; postgresql=$$?; \
	echo "--- the end-to-end tests on PostgreSQL, run beside the suite (exit $$postgresql):"; \
	tail -n 30 test-artifacts/postgresql-tests.log; \
	test $$sqlite -eq 0 && test $$postgresql -eq 0

test-postgresql: venv catalogs bytecode oidc-provider
	@$(MAKE) --no-print-directory system REQUIRE_SYSTEM=1
	OPENCASS_REQUIRE_TOOLS=1 OPENCASS_TEST_STORE=postgresql $(PY) -m pytest -q -p no:cacheprovider $(XDIST)

# The end-to-end tests under libfaketime at dates where calendars and clocks turn.
# (a month's last day at 23:30 in Berlin, 1 January, the last Sunday of March just after
# Berlin's clocks went forward, 29 February 2028)
FAKETIME_DATES ?= 2026-11-30T23:30:00+01:00 2027-01-01T00:10:00+01:00 \
  2027-03-28T03:30:00+02:00 2028-02-29T12:00:00+01:00
test-dates: venv catalogs
	@$(MAKE) --no-print-directory system REQUIRE_SYSTEM=1
	$(PY) -m tests.fakedates $(FAKETIME_DATES)

# 30 minutes of mixed uploads from 50 sessions, worker kills and a connection flood against a
# real daemon; ends with every file answered and the ledger equal to what was sent.
SOAK_MINUTES ?= 30
soak: venv catalogs
	$(PY) -m bench.soak --minutes $(SOAK_MINUTES)

# The documentation site (docs/ → site/); --strict: a broken link or anchor fails the build.
docs: venv
	$(VENV)/bin/mkdocs build --strict --quiet

lint: venv
	$(VENV)/bin/ruff check opencass tests bench scripts
	$(VENV)/bin/ruff format --check opencass tests bench scripts
	$(VENV)/bin/mypy opencass/codecs opencass/settlement opencass/config opencass/model.py \
	  opencass/errors.py opencass/findings.py opencass/files.py opencass/events.py opencass/clock.py \
	  opencass/processes.py \
	  opencass/identity

bench: venv system catalogs bytecode
	$(PY) -m bench.cli_bench
	$(PY) -m bench.codec_bench
	$(PY) -m bench.gateway_bench
	$(PY) -m bench.close_bench
	$(PY) -m bench.status_bench
	$(PY) -m bench.xml_bench
	$(PY) -m bench.reports_bench --awbs 1000000 --airlines 100
	$(PY) -m bench.invoices_bench --with-reports --runs 3
	$(PY) -m bench.outbox_bench
	$(PY) -m bench.portal_bench

# Demo: a complete configuration in ./demo (made once), sample files, then the gateway.
run: venv catalogs bytecode system
	$(VENV)/bin/opencass demo init $(DEMO) --sftp-port 2222 --portal-port 8480 --with-import
	$(VENV)/bin/opencass demo sample $(DEMO)/samples
	# agent1's own SFTP server (the demo pushes its statements there), stopped with the gateway
	$(VENV)/bin/opencass demo push-server --dir $(DEMO)/agent1-server --port 2223 \
	  --username agent1 --authorized-key $(DEMO)/keys/push_to_agent1.pub \
	  --host-key $(DEMO)/keys/agent1_server_host_ed25519_key & \
	  trap 'kill $$! 2>/dev/null' EXIT INT TERM; \
	  $(VENV)/bin/opencass serve --config $(DEMO)

# Refreshing the lock is deliberate: run, then `make test`, then commit requirements.lock.
$(LOCKVENV)/bin/pip-compile:
	$(PYTHON) -m venv $(LOCKVENV)
	$(LOCKVENV)/bin/pip --isolated install --quiet $(PIP_TOOLS)

LOCK = env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL PIP_CONFIG_FILE=/dev/null \
  $(LOCKVENV)/bin/pip-compile --quiet --all-build-deps --extra dev --allow-unsafe \
  --generate-hashes --strip-extras --no-emit-index-url --output-file requirements.lock

lock: $(LOCKVENV)/bin/pip-compile
	$(LOCK) pyproject.toml

lock-upgrade: $(LOCKVENV)/bin/pip-compile
	$(LOCK) --upgrade pyproject.toml

clean:
	rm -rf $(VENV) $(LOCKVENV) build site *.egg-info $(OIDC_TEST)/node_modules test-artifacts

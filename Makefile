# logmon -- build, test, install.
#
#   make run        build and follow the local journal in the foreground
#   make test       every test (needs root: private journald, Postfix)
#   make install    PREFIX=/usr/local DESTDIR= (packagers: DESTDIR=/tmp/stage)
#   make uninstall  remove what install put there, except the config
#   make bench      scan/follow/idle/memory figures (needs root; see benches/bench.sh)
#   make systest    boot a real systemd (nspawn) and test install, unit and mail

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
# systemd reads units from $(PREFIX)/lib/systemd/system for /usr and /usr/local.
UNITDIR    ?= $(PREFIX)/lib/systemd/system
# ... and sysusers.d files from $(PREFIX)/lib/sysusers.d likewise.
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DESTDIR    ?=

CARGO      ?= cargo
BIN        := target/release/logmon
# The binary `make install` copies. Defaults to the one built here; a
# packager (or tests/install.rs) may name an already built one, and then
# install neither builds nor needs cargo.
INSTALL_BIN ?= $(BIN)
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

BUILD_DEBS := libsystemd-dev pkg-config
TEST_DEBS  := $(BUILD_DEBS) postfix systemd-journal-remote

.PHONY: all run test lint deps test-deps install uninstall systest clean

all: $(BIN)

$(BIN): deps Cargo.toml Cargo.lock build.rs $(wildcard src/*.rs)
	$(CARGO) build --release --locked

# Install the Debian packages a step needs, only if missing, saying so.
define apt_install
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "==> installing Debian packages:$$missing"; \
	  echo "postfix postfix/main_mailer_type select Local only" | $(SUDO) debconf-set-selections; \
	  echo "postfix postfix/mailname string localhost" | $(SUDO) debconf-set-selections; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
endef

deps:
	$(call apt_install,$(BUILD_DEBS))

test-deps:
	$(call apt_install,$(TEST_DEBS))

# Follow this machine's journal with the shipped rules. Alerts are mailed
# when a sendmail exists, printed here otherwise. The position is kept in
# target/ so a trial run does not touch /var/lib.
run: $(BIN)
	@sed 's|^state_file .*|state_file = $(CURDIR)/target/run-cursor|' logmon.conf > target/run.conf
	@if [ -x /usr/sbin/sendmail ]; then \
	  echo "==> following the journal; alerts are mailed to root (Ctrl-C stops)"; \
	  exec $(SUDO) $(BIN) -c target/run.conf; \
	else \
	  echo "==> following the journal; no /usr/sbin/sendmail, so alerts are printed here (Ctrl-C stops)"; \
	  exec $(SUDO) $(BIN) -c target/run.conf --dry-run; \
	fi

lint:
	@if $(CARGO) fmt --version >/dev/null 2>&1; then $(CARGO) fmt --check; else echo "==> rustfmt not installed: format check skipped"; fi
	@if $(CARGO) clippy --version >/dev/null 2>&1; then $(CARGO) clippy --all-targets --locked -- -D warnings; else echo "==> clippy not installed: lint skipped"; fi

test: test-deps lint
	$(CARGO) build --release --locked
	$(SUDO) env "PATH=$$PATH" $(CARGO) test --release --locked -- --test-threads=4
	$(MAKE) systest

# The unit runs logmon as the system user logmon (see logmon.service); the
# sysusers.d file creates it and puts it into systemd-journal (to read the
# whole journal) and postdrop (to queue mail with Postfix's postdrop under
# NoNewPrivileges=). With DESTDIR set (a package or a test stage) users are
# the package's business: nothing is chowned and systemd-sysusers is not run.
install: $(INSTALL_BIN)
	install -D -m 0755 $(INSTALL_BIN) $(DESTDIR)$(BINDIR)/logmon
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/logmon.conf ]; then \
	  install -D -m 0644 logmon.conf $(DESTDIR)$(SYSCONFDIR)/logmon.conf.new; \
	  echo "==> kept your $(SYSCONFDIR)/logmon.conf; the shipped one is $(SYSCONFDIR)/logmon.conf.new"; \
	else \
	  install -D -m 0644 logmon.conf $(DESTDIR)$(SYSCONFDIR)/logmon.conf; \
	fi
	@mkdir -p $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	sed 's|@BINDIR@|$(BINDIR)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' logmon.service > $(DESTDIR)$(UNITDIR)/logmon.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/logmon.service
	printf '%s\n' \
	  '# logmon: the system user of logmon.service (installed by make install)' \
	  'u logmon - "logmon journal monitor" /var/lib/logmon' \
	  'm logmon systemd-journal' \
	  'm logmon postdrop' > $(DESTDIR)$(SYSUSERSDIR)/logmon.conf
	chmod 0644 $(DESTDIR)$(SYSUSERSDIR)/logmon.conf
	@if [ -z "$(DESTDIR)" ]; then \
	  if command -v systemd-sysusers >/dev/null 2>&1; then \
	    echo "systemd-sysusers $(SYSUSERSDIR)/logmon.conf"; \
	    systemd-sysusers $(SYSUSERSDIR)/logmon.conf; \
	  else \
	    echo "==> no systemd-sysusers: create the system user logmon (groups systemd-journal, postdrop) yourself"; \
	  fi; \
	fi
	@echo "==> next: systemctl daemon-reload && systemctl enable --now logmon"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/logmon $(DESTDIR)$(UNITDIR)/logmon.service \
	  $(DESTDIR)$(SYSUSERSDIR)/logmon.conf $(DESTDIR)$(SYSCONFDIR)/logmon.conf.new
	@echo "==> left $(SYSCONFDIR)/logmon.conf, /var/lib/logmon and the user logmon in place"

# Boot a real systemd in a container (systemd-nspawn, a cached Debian tree
# under /var/cache/logmon-systest), install there what `make install`
# produces, and check that an error line is mailed through Postfix. Needs
# root. Part of `make test` (about 100 s the first time, 25 s cached).
systest: $(BIN)
	$(SUDO) timeout 900 tests/systest.sh

# The benchmark: builds as you, runs as root (a private journald namespace).
# Knobs, e.g. `make bench SIZES=100000 IDLE_SECS=10`: SIZES RUNS SHAPE
# IDLE_SECS FOLLOW_N FOLLOW_MIN_MS FOLLOW_MAX_MS BENCH_CACHE (benches/bench.sh).
BENCH_VARS := SIZES RUNS SHAPE IDLE_SECS FOLLOW_N FOLLOW_MIN_MS FOLLOW_MAX_MS BENCH_CACHE
.PHONY: bench
bench: $(BIN)
	$(call apt_install,systemd-journal-remote)
	benches/bench.sh build
	$(SUDO) env $(foreach v,$(BENCH_VARS),$(if $($(v)),$(v)='$($(v))')) benches/bench.sh run

clean:
	$(CARGO) clean

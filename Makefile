# logmon -- build, test, install.
#
#   make run        build and follow the local journal in the foreground
#   make test       every test (needs root: private journald, Postfix)
#   make install    PREFIX=/usr/local DESTDIR= (packagers: DESTDIR=/tmp/stage)
#   make uninstall  remove what install put there, except the config
#   make bench      scan/follow/idle/memory figures (needs root; see benches/bench.sh)
#   make systest    boot a real systemd (nspawn) and test install, unit and mail
#   make fuzz       run each fuzz target FUZZ_SECS (60) s; not part of make test (see fuzz/run.sh)

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
# The binary `make install` copies: by default the one `make` built here (a
# packager, or tests/install.rs, may name another). Install never builds it
# and never needs cargo; without it, it fails and says to run `make` first.
INSTALL_BIN ?= $(BIN)
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The MTA logmon's config names; `make install` only warns when it is missing
# (an MTA may come later: logmon keeps and retries its alerts).
SENDMAIL   ?= /usr/sbin/sendmail
# What `make run` takes for "this machine has a journal": journald's socket,
# or this machine's journal files under one of these directories.
JOURNAL_SOCKET ?= /run/systemd/journal/socket
JOURNAL_DIRS   ?= /var/log/journal /run/log/journal

BUILD_DEBS := libsystemd-dev pkg-config
TEST_DEBS  := $(BUILD_DEBS) postfix systemd-journal-remote

.PHONY: all build run test lint deps test-deps install uninstall systest fuzz clean

all: build

# cargo knows better than make what needs rebuilding, so the targets that
# need the binary always ask it. `make install` does not: it copies what
# `make` built, and needs no cargo (`sudo make install`: root's PATH has none).
build: deps
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

# Whether this machine's own journal files exist (not a journald namespace's,
# which live in <machine-id>.NAME directories).
journal_files = mid=$$(cat /etc/machine-id 2>/dev/null); \
	for f in $(foreach d,$(JOURNAL_DIRS),"$(d)/$$mid"/*.journal "$(d)/$$mid"/*.journal~); do \
	  [ -e "$$f" ] && exit 0; \
	done; exit 1

test-deps:
	$(call apt_install,$(TEST_DEBS))

# Follow this machine's journal with the shipped rules. Alerts are mailed
# when a sendmail exists, printed here otherwise. The position is kept in
# target/ so a trial run does not touch /var/lib.
run: build
	@if [ ! -S $(JOURNAL_SOCKET) ] && ! ( $(journal_files) ); then \
	  echo "==> no journal on this machine: no journald ($(JOURNAL_SOCKET)) and no journal files in $(JOURNAL_DIRS); nothing to follow" >&2; \
	  exit 1; \
	fi
	@sed 's|^state_file .*|state_file = $(CURDIR)/target/run-cursor|' logmon.conf > target/run.conf
	@if [ -x $(SENDMAIL) ]; then \
	  echo "==> following the journal; alerts are mailed to root (Ctrl-C stops)"; \
	  exec $(SUDO) $(BIN) -c target/run.conf; \
	else \
	  echo "==> following the journal; no $(SENDMAIL), so alerts are printed here (Ctrl-C stops)"; \
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
install:
	@if [ ! -f "$(INSTALL_BIN)" ] || [ ! -x "$(INSTALL_BIN)" ]; then \
	  echo "==> no $(INSTALL_BIN) to install: run \`make\` first (as yourself), then \`sudo make install\`" >&2; \
	  exit 1; \
	fi
	@if [ ! -x "$(SENDMAIL)" ]; then \
	  echo "==> warning: no $(SENDMAIL): install Postfix (or another MTA) first, or logmon cannot mail its alerts (it keeps them and retries)"; \
	fi
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

# With DESTDIR empty this is the live system: stop and disable the service
# before its unit goes, or it keeps running with a dangling enable link.
# Without a running systemd, `systemctl disable` still removes the link.
uninstall:
	@if [ -z "$(DESTDIR)" ] && [ -e $(UNITDIR)/logmon.service ] && command -v systemctl >/dev/null 2>&1; then \
	  if [ -d /run/systemd/system ]; then \
	    echo "systemctl disable --now logmon.service"; \
	    systemctl disable --now logmon.service || true; \
	  else \
	    echo "systemctl disable logmon.service"; \
	    systemctl disable logmon.service || true; \
	  fi; \
	fi
	rm -f $(DESTDIR)$(BINDIR)/logmon $(DESTDIR)$(UNITDIR)/logmon.service \
	  $(DESTDIR)$(SYSUSERSDIR)/logmon.conf $(DESTDIR)$(SYSCONFDIR)/logmon.conf.new
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then \
	  systemctl daemon-reload || true; \
	fi
	@echo "==> left $(SYSCONFDIR)/logmon.conf, /var/lib/logmon and the user logmon in place"

# Boot a real systemd in a container (systemd-nspawn, a cached Debian tree
# under /var/cache/logmon-systest), run this Makefile's install there, and
# check the unit with the real Postfix (tests/systest.sh lists the cases).
# Needs root. Part of `make test` (about 60 s the first time, 10 s cached).
systest: build
	$(SUDO) timeout 900 tests/systest.sh

# The benchmark: builds as you, runs as root (a private journald namespace).
# Knobs, e.g. `make bench SIZES=100000 IDLE_SECS=10`: SIZES RUNS SHAPE
# IDLE_SECS FOLLOW_N FOLLOW_MIN_MS FOLLOW_MAX_MS BENCH_CACHE (benches/bench.sh).
BENCH_VARS := SIZES RUNS SHAPE IDLE_SECS FOLLOW_N FOLLOW_MIN_MS FOLLOW_MAX_MS BENCH_CACHE
.PHONY: bench
bench: build
	$(call apt_install,systemd-journal-remote)
	benches/bench.sh build
	$(SUDO) env $(foreach v,$(BENCH_VARS),$(if $($(v)),$(v)='$($(v))')) benches/bench.sh run

# Fuzz the config parser, mail composer, prescreen, state file and --since
# (fuzz/run.sh; installs cargo-fuzz if missing). What it finds is fixed and
# its input kept in fuzz/regressions/TARGET/, which `cargo test` replays.
# libFuzzer is C++ (built by libfuzzer-sys): it needs g++.
FUZZ_DEBS := $(BUILD_DEBS) g++
fuzz:
	$(call apt_install,$(FUZZ_DEBS))
	FUZZ_SECS='$(or $(FUZZ_SECS),60)' CARGO='$(CARGO)' $(if $(FUZZ_TARGETS),FUZZ_TARGETS='$(FUZZ_TARGETS)') fuzz/run.sh

clean:
	$(CARGO) clean

# logmon -- build, test, install.
#
#   make run        build and follow the local journal in the foreground
#   make test       every test (needs root: private journald, Postfix)
#   make install    PREFIX=/usr/local DESTDIR= (packagers: DESTDIR=/tmp/stage)
#   make uninstall  remove what install put there, except the config

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
# systemd reads units from $(PREFIX)/lib/systemd/system for /usr and /usr/local.
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DESTDIR    ?=

CARGO      ?= cargo
BIN        := target/release/logmon
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

BUILD_DEBS := libsystemd-dev pkg-config
TEST_DEBS  := $(BUILD_DEBS) postfix systemd-journal-remote

.PHONY: all run test lint deps test-deps install uninstall clean

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
	$(SUDO) $(CARGO) test --release --locked -- --test-threads=4

install: $(BIN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/logmon
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/logmon.conf ]; then \
	  install -D -m 0644 logmon.conf $(DESTDIR)$(SYSCONFDIR)/logmon.conf.new; \
	  echo "==> kept your $(SYSCONFDIR)/logmon.conf; the shipped one is $(SYSCONFDIR)/logmon.conf.new"; \
	else \
	  install -D -m 0644 logmon.conf $(DESTDIR)$(SYSCONFDIR)/logmon.conf; \
	fi
	@mkdir -p $(DESTDIR)$(UNITDIR)
	sed 's|@BINDIR@|$(BINDIR)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' logmon.service > $(DESTDIR)$(UNITDIR)/logmon.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/logmon.service
	@echo "==> next: systemctl daemon-reload && systemctl enable --now logmon"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/logmon $(DESTDIR)$(UNITDIR)/logmon.service $(DESTDIR)$(SYSCONFDIR)/logmon.conf.new
	@echo "==> left $(SYSCONFDIR)/logmon.conf and /var/lib/logmon in place"

clean:
	$(CARGO) clean

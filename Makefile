# logmon -- build, test, install.
#
#   make run        build and follow the local journal in the foreground
#   make test       every test (needs root: private journald, Postfix)
#   make install    PREFIX=/usr/local DESTDIR= (packagers: DESTDIR=/tmp/stage)
#   make uninstall  remove what install put there, except the config
#   make deb        target/deb/logmon_VERSION_ARCH.deb from what `make` built
#   make bench      scan/follow/idle/memory figures (needs root; see benches/bench.sh)
#   make systest    boot a real systemd (nspawn) and test install, unit and mail
#   make cross ARCH=arm64|armhf   a release binary for a small board (Debian's Rust)
#   make compat-check  the supported targets: arm binaries under qemu, a Debian 11 build
#   make fuzz       run each fuzz target FUZZ_SECS (60) s; not part of make test (see fuzz/run.sh)

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
# systemd reads units from $(PREFIX)/lib/systemd/system for /usr and /usr/local.
UNITDIR    ?= $(PREFIX)/lib/systemd/system
# ... and sysusers.d files from $(PREFIX)/lib/sysusers.d likewise.
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
MANDIR     ?= $(PREFIX)/share/man
# What install records about the config files it installed (see
# packaging/install-conf.sh).
PKGDATADIR ?= $(PREFIX)/share/logmon
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
# mandoc: the man page test; dpkg-dev and lintian: the .deb and its test.
TEST_DEBS  := $(BUILD_DEBS) postfix systemd-journal-remote mandoc dpkg-dev lintian

MANPAGES := man/logmon.8 man/logmon.conf.5
# The shipped rule packs, /etc/logmon.d/*.conf (none is fine).
PACKS    := $(sort $(wildcard logmon.d/*.conf))

.PHONY: all build run test lint deps test-deps install install-files uninstall deb systest cross compat-check clean fuzz

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
	@sed -e 's|^state_file .*|state_file = $(CURDIR)/target/run-cursor|' \
	     -e 's|^include = logmon.d$$|include = $(CURDIR)/logmon.d|' logmon.conf > target/run.conf
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
	$(MAKE) compat-check

# The unit runs logmon as the system user logmon (see logmon.service); the
# sysusers.d file logmon.sysusers creates it and puts it into systemd-journal
# (to read the whole journal) and postdrop (to queue mail with Postfix's
# postdrop under NoNewPrivileges=). With DESTDIR set (a package or a test
# stage) users are the package's business: nothing is chowned and
# systemd-sysusers is not run.
install:
	@if [ ! -f "$(INSTALL_BIN)" ] || [ ! -x "$(INSTALL_BIN)" ]; then \
	  echo "==> no $(INSTALL_BIN) to install: run \`make\` first (as yourself), then \`sudo make install\`" >&2; \
	  exit 1; \
	fi
	@if [ ! -x "$(SENDMAIL)" ]; then \
	  echo "==> warning: no $(SENDMAIL): install Postfix (or another MTA) first, or logmon cannot mail its alerts (it keeps them and retries)"; \
	fi
	@$(MAKE) --no-print-directory install-files
	@if [ -z "$(DESTDIR)" ]; then \
	  if command -v systemd-sysusers >/dev/null 2>&1; then \
	    echo "systemd-sysusers $(SYSUSERSDIR)/logmon.conf"; \
	    systemd-sysusers $(SYSUSERSDIR)/logmon.conf; \
	  else \
	    echo "==> no systemd-sysusers: create the system user logmon (groups systemd-journal, postdrop) yourself"; \
	  fi; \
	fi
	@echo "==> next: systemctl daemon-reload && systemctl enable --now logmon"

# The files alone, without checks, users or advice: what `install` and
# `deb` share. /etc/logmon.conf and the rule packs in /etc/logmon.d are
# treated as dpkg treats conffiles (packaging/install-conf.sh): a file the
# admin changed is kept and the shipped one lands beside it as *.new; an
# unchanged one is updated; a deleted pack stays deleted.
install-files:
	install -D -m 0755 $(INSTALL_BIN) $(DESTDIR)$(BINDIR)/logmon
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/logmon.d
	@sh packaging/install-conf.sh $(DESTDIR)$(PKGDATADIR)/conffiles.sha256 \
	  $(DESTDIR)$(SYSCONFDIR) logmon.conf --keep-deleted $(PACKS)
	@mkdir -p $(DESTDIR)$(UNITDIR)
	sed 's|@BINDIR@|$(BINDIR)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' logmon.service > $(DESTDIR)$(UNITDIR)/logmon.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/logmon.service
	install -D -m 0644 logmon.sysusers $(DESTDIR)$(SYSUSERSDIR)/logmon.conf
	install -D -m 0644 man/logmon.8 $(DESTDIR)$(MANDIR)/man8/logmon.8
	install -D -m 0644 man/logmon.conf.5 $(DESTDIR)$(MANDIR)/man5/logmon.conf.5

# With DESTDIR empty this is the live system: stop and disable the service
# before its unit goes, or it keeps running with a dangling enable link.
# Without a running systemd, `systemctl disable` still removes the link.
# The config (logmon.conf, logmon.d/) stays, as dpkg's remove keeps
# conffiles; the shipped copies (*.new) beside it go.
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
	  $(DESTDIR)$(SYSUSERSDIR)/logmon.conf $(DESTDIR)$(SYSCONFDIR)/logmon.conf.new \
	  $(DESTDIR)$(SYSCONFDIR)/logmon.d/*.conf.new \
	  $(DESTDIR)$(MANDIR)/man8/logmon.8 $(DESTDIR)$(MANDIR)/man5/logmon.conf.5 \
	  $(DESTDIR)$(PKGDATADIR)/conffiles.sha256
	@rmdir $(DESTDIR)$(PKGDATADIR) 2>/dev/null || true
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then \
	  systemctl daemon-reload || true; \
	fi
	@echo "==> left $(SYSCONFDIR)/logmon.conf, $(SYSCONFDIR)/logmon.d, /var/lib/logmon and the user logmon in place"

# The Debian package, offline, from what `make` built (INSTALL_BIN), with
# nothing but dpkg-dev: dpkg-shlibdeps for Depends:, dpkg-deb to build it
# (--root-owner-group: no fakeroot, no root). The files are install-files'
# for /usr (the unit in /lib/systemd/system, as Debian 12's debhelper puts
# it), man pages gzipped; the maintainer scripts in packaging/deb/ follow
# debhelper's dh_installsysusers and dh_installsystemd snippets. Every file
# under /etc is a conffile. DEB_VERSION and INSTALL_BIN make another one
# (tests/systest.sh builds an upgrade that way).
VERSION        := $(shell sed -n '/^\[package\]/,/^\[/ s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)
DEB_VERSION    ?= $(VERSION)
DEB_ARCH       ?= $(shell dpkg --print-architecture 2>/dev/null)
# Who answers for the package: DEBFULLNAME and DEBEMAIL as for dch(1), else
# a placeholder on a reserved domain (set one for a package you hand out).
DEB_MAINTAINER ?= $(if $(DEBEMAIL),$(or $(DEBFULLNAME),logmon maintainers) <$(DEBEMAIL)>,logmon maintainers <logmon@example.org>)
DEBDIR         ?= target/deb
DEB            := $(DEBDIR)/logmon_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_STAGE      := $(DEBDIR)/debian/logmon

deb:
	@if [ ! -f "$(INSTALL_BIN)" ] || [ ! -x "$(INSTALL_BIN)" ]; then \
	  echo "==> no $(INSTALL_BIN) to package: run \`make\` first" >&2; \
	  exit 1; \
	fi
	@for t in dpkg-deb dpkg-shlibdeps; do \
	  command -v $$t >/dev/null 2>&1 || { echo "==> no $$t: apt-get install dpkg-dev" >&2; exit 1; }; \
	done
	@[ -n "$(DEB_ARCH)" ] || { echo "==> dpkg --print-architecture says nothing" >&2; exit 1; }
	rm -rf $(DEBDIR)/debian
	@$(MAKE) --no-print-directory install-files DESTDIR=$(abspath $(DEB_STAGE)) \
	  PREFIX=/usr SYSCONFDIR=/etc UNITDIR=/lib/systemd/system >/dev/null
	rm -f $(DEB_STAGE)/usr/share/logmon/conffiles.sha256
	rmdir $(DEB_STAGE)/usr/share/logmon
	gzip -9n $(DEB_STAGE)/usr/share/man/man8/logmon.8 $(DEB_STAGE)/usr/share/man/man5/logmon.conf.5
	install -D -m 0644 packaging/deb/copyright $(DEB_STAGE)/usr/share/doc/logmon/copyright
	@{ printf 'logmon (%s) unstable; urgency=medium\n\n' '$(DEB_VERSION)'; \
	   printf '  * Built by make deb from this source tree; see the git log.\n\n'; \
	   printf ' -- %s  %s\n' '$(DEB_MAINTAINER)' "$$(date -R -d @$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || date +%s)})"; \
	 } | gzip -9n > $(DEB_STAGE)/usr/share/doc/logmon/changelog.gz
	chmod 0644 $(DEB_STAGE)/usr/share/doc/logmon/changelog.gz
	install -d -m 0755 $(DEB_STAGE)/DEBIAN
	install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm $(DEB_STAGE)/DEBIAN/
	cd $(DEB_STAGE) && find etc -type f | sort | sed 's|^|/|' > DEBIAN/conffiles
	cd $(DEB_STAGE) && find usr lib -type f | sort | xargs md5sum > DEBIAN/md5sums
	chmod 0644 $(DEB_STAGE)/DEBIAN/conffiles $(DEB_STAGE)/DEBIAN/md5sums
	printf 'Source: logmon\n\nPackage: logmon\nArchitecture: any\n' > $(DEBDIR)/debian/control
	cd $(DEBDIR) && dpkg-shlibdeps -O -edebian/logmon/usr/bin/logmon > debian/shlibs.substvars
	sed -e 's|@VERSION@|$(DEB_VERSION)|' -e 's|@ARCH@|$(DEB_ARCH)|' \
	  -e 's|@MAINTAINER@|$(DEB_MAINTAINER)|' \
	  -e "s|@SHLIBS@|$$(sed -n 's/^shlibs:Depends=//p' $(DEBDIR)/debian/shlibs.substvars)|" \
	  -e "s|@SIZE@|$$(du -k -s --exclude=DEBIAN $(DEB_STAGE) | cut -f 1)|" \
	  packaging/deb/control.in > $(DEB_STAGE)/DEBIAN/control
	find $(DEB_STAGE) -type d -exec chmod 0755 {} +
	dpkg-deb --root-owner-group -Zxz --build $(DEB_STAGE) $(DEB)
	@echo "==> $(DEB) ($$(du -k $(DEB) | cut -f 1) KiB)"

# Boot a real systemd in a container (systemd-nspawn, a cached Debian tree
# under /var/cache/logmon-systest), run this Makefile's install there, and
# check the unit with the real Postfix; then, in a second container, the
# .deb (`make deb`): install, upgrade, remove, purge (tests/systest.sh lists
# the cases). Needs root. Part of `make test` (about 60 s more the first
# time, 30 s cached).
systest: build
	$(SUDO) timeout 900 tests/systest.sh

# A release binary for a small board: `make cross ARCH=arm64` (64-bit ARM,
# e.g. a Raspberry Pi 3/4/5 or an arm VPS) or `ARCH=armhf` (32-bit ARMv7),
# built here with Debian's own Rust for the target, never rustup's: adds
# the dpkg architecture ARCH (then apt-get update) and installs, if missing,
# bookworm-security's rustc-web and cargo-web with libstd-rust-web-dev:ARCH,
# the cross gcc and libsystemd-dev:ARCH. The binary links only glibc and
# libsystemd (checked here); copy it to the board and `make install
# INSTALL_BIN=...` there, or install it by hand.
CROSS_TARGET_arm64 := aarch64-unknown-linux-gnu
CROSS_TARGET_armhf := armv7-unknown-linux-gnueabihf
CROSS_GNU_arm64    := aarch64-linux-gnu
CROSS_GNU_armhf    := arm-linux-gnueabihf
CROSS_TARGET = $(CROSS_TARGET_$(ARCH))
CROSS_GNU    = $(CROSS_GNU_$(ARCH))
CROSS_BIN    = target/$(CROSS_TARGET)/release/logmon
CROSS_DEBS   = rustc-web cargo-web libstd-rust-web-dev:$(ARCH) gcc-$(CROSS_GNU) \
	libc6-dev-$(ARCH)-cross libsystemd-dev:$(ARCH)
# Debian's cargo and rustc (not a rustup proxy earlier on PATH); pkg-config
# answers for the target's libsystemd; the cross gcc links.
CROSS_ENV = RUSTC=/usr/bin/rustc PKG_CONFIG_ALLOW_CROSS=1 \
	PKG_CONFIG_LIBDIR=/usr/lib/$(CROSS_GNU)/pkgconfig \
	CARGO_TARGET_$(shell echo '$(CROSS_TARGET)' | tr 'a-z-' 'A-Z_')_LINKER=$(CROSS_GNU)-gcc

cross:
	@if [ -z "$(CROSS_TARGET)" ]; then echo "==> say which: make cross ARCH=arm64 or make cross ARCH=armhf" >&2; exit 2; fi
	@if ! dpkg --print-foreign-architectures | grep -qx '$(ARCH)'; then \
	  echo "==> dpkg --add-architecture $(ARCH) (lets apt install $(ARCH) libraries beside this machine's)"; \
	  $(SUDO) dpkg --add-architecture $(ARCH); \
	fi
	$(call apt_install,$(CROSS_DEBS))
	env $(CROSS_ENV) /usr/bin/cargo build --release --locked --target $(CROSS_TARGET)
	@extra=$$(readelf -d $(CROSS_BIN) | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | \
	  grep -v -e '^libc\.so\.6$$' -e '^libsystemd\.so\.0$$' -e '^ld-linux[-a-z0-9_]*\.so\.[0-9]$$' || true); \
	if [ -n "$$extra" ]; then echo "==> $(CROSS_BIN) needs more than glibc and libsystemd: $$extra" >&2; exit 1; fi
	@echo "==> $(CROSS_BIN): $$(stat -c %s $(CROSS_BIN)) bytes, needs only glibc and libsystemd"

# Every row of README's "Supported targets" table, checked (tests/compat-check.sh):
# the x86_64, arm64 and armhf binaries (the arm ones under qemu-user), and
# a build inside a cached Debian 11 tree (nspawn) with this toolchain.
# Needs root. Part of `make test`: 2.5 min the first time (apt downloads,
# the tree), 10 s once installed and cached.
compat-check: build
	$(MAKE) cross ARCH=arm64
	$(MAKE) cross ARCH=armhf
	$(call apt_install,qemu-user-static debootstrap systemd-container systemd-journal-remote)
	$(SUDO) env "PATH=$$PATH" "CARGO_HOME=$${CARGO_HOME:-$$HOME/.cargo}" \
	  "LOGMON_COMPAT_SYSROOT=$$(rustc --print sysroot)" timeout 600 tests/compat-check.sh

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

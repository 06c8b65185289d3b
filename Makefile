# physmap-hooks: build, test, demo, install.
#
#   make demo     save and restore records on a sandboxed real xenstored
#                 (XENSTORE_DAEMON=oxenstored make demo: on oxenstored)
#   make check    every test (installs missing Debian packages first)
#   make install  PREFIX=/usr/local DESTDIR= LIBDIR=$(PREFIX)/lib
#   make e2e      real xl save/restore/migrate under Xen in QEMU (root; see README)
#   make deb      Debian source and binary packages in target/debian/DIST/ (root; see
#                 README; DIST=bookworm|trixie|sid, default the host's)
#   make test-deb installs those into a throw-away root of DIST and removes them, then
#                 runs their autopkgtests there
#   make check-deb  make deb, then make test-deb
#
# Both `demo` and `check` run scripts/bootstrap.sh, which installs the Debian 12
# packages they need when they are missing.

SHELL := /bin/bash
CARGO ?= cargo
CC ?= gcc

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(firstword $(subst ., ,$(VERSION)))

# Where cargo puts its builds (scripts/cargo-target-dir.sh: CARGO_TARGET_DIR honoured). The
# C tests, the demo and the install take the library and the tool from there. target/ when
# cargo is not there yet.
CARGO_TARGET := $(or $(shell CARGO="$(CARGO)" scripts/cargo-target-dir.sh 2>/dev/null),target)
RELEASE := $(CARGO_TARGET)/release
LIB := $(RELEASE)/libphysmap_hooks.so
HEADER := include/physmap_hooks.h
CTEST := target/ctest
TEST_CFLAGS := -Wall -Wextra -Werror -std=gnu11 -g -Iinclude
VALGRIND := valgrind --quiet --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
SANDBOX := tests/sandbox/xenstored-sandbox.sh
## make check's bookkeeping (scripts/check-count.sh): a command run through $(COUNT) adds
## what it passed and failed to the totals; $(SUITE_DONE), a suite's last line, says that
## it got to its end (a suite that counted nothing then counts as one test).
COUNT := scripts/check-count.sh
SUITE_DONE = [ -z "$$CHECK_RESULTS" ] || printf '%s\tdone\n' $@ >>"$$CHECK_RESULTS"

LIBNAME := libphysmap_hooks.so
SONAME := $(LIBNAME).$(MAJOR)
REALNAME := $(LIBNAME).$(VERSION)

.PHONY: all build bootstrap header check-header check-symbols check lint \
	test-rust test-c test-loader test-install fuzz bench demo install uninstall \
	check-patches e2e e2e-fleet e2e-fleet-ci build-domain-checks lint-domain-checks check-xenctrl-linkage \
	test-domain-checks test-valgrind-concurrency test-demo test-target-dir deb test-deb \
	check-deb check-daemons-trixie check-deb-suites test-xen-deb-version

all: build

bootstrap:
	@scripts/bootstrap.sh

build:
	$(CARGO) build --release --locked --workspace

$(LIB): build

## The header is generated from src/ffi.rs and committed.
header:
	cbindgen --config cbindgen.toml --crate physmap-hooks --output $(HEADER) \
		2> >(grep -v '^WARN: Skip .* (not `pub`)' >&2)

check-header:
	@tmp=$$(mktemp); trap 'rm -f $$tmp' EXIT; \
	cbindgen --config cbindgen.toml --crate physmap-hooks --output $$tmp 2>/dev/null; \
	if ! diff -u $(HEADER) $$tmp; then \
		echo "$(HEADER) is stale: run 'make header' and commit it" >&2; exit 1; \
	fi; echo "header: $(HEADER) is up to date"
	@$(SUITE_DONE)

## The shared object exports exactly the functions of the header, and has its soname.
check-symbols: build
	@want=$$(sed -n 's/^[a-z].*[ *]\(physmap_[a-z_]*\)(.*/\1/p' $(HEADER) | sort); \
	got=$$(nm -D --defined-only $(LIB) | awk '{print $$3}' | sort); \
	if [ "$$want" != "$$got" ]; then \
		echo "exported symbols differ from the header:"; \
		diff <(echo "$$want") <(echo "$$got"); exit 1; \
	fi; \
	soname=$$(readelf -d $(LIB) | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p'); \
	[ "$$soname" = "libphysmap_hooks.so.$(MAJOR)" ] || \
		{ echo "soname is '$$soname'"; exit 1; }; \
	echo "symbols: exactly the $$(echo "$$want" | wc -l) header functions; soname $$soname"
	@$(SUITE_DONE)

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	@$(SUITE_DONE)

## The xenstore daemons the tests run against: Debian 12 ships both, and starts oxenstored
## by default. `cargo test` runs everything once on the first; the tests that talk to a
## daemon run again on each other one (XENSTORE_DAEMON, see tests/common/sandbox.rs).
## The workspace has two packages: the library's tests, then physmap-inspect's.
DAEMONS := xenstored oxenstored
XENSTORE_TESTS := -p physmap-hooks --test xenstore_hooks --test reliability \
	--test sandbox_selftest
INSPECT_TESTS := -p physmap-inspect --test inspect_cli --test host_cli

test-rust:
	XENSTORE_DAEMON=$(firstword $(DAEMONS)) $(COUNT) $@ $(CARGO) test --locked --workspace
	@for d in $(wordlist 2,$(words $(DAEMONS)),$(DAEMONS)); do \
		echo "== xenstore-facing tests on $$d"; \
		XENSTORE_DAEMON=$$d $(COUNT) $@ $(CARGO) test --locked $(XENSTORE_TESTS) && \
		XENSTORE_DAEMON=$$d $(COUNT) $@ $(CARGO) test --locked $(INSPECT_TESTS) || exit 1; \
	done
	@$(SUITE_DONE)

$(CTEST)/abi_test: tests/c/abi_test.c tests/c/check.h $(HEADER)
	@mkdir -p $(CTEST)
	$(CC) $(TEST_CFLAGS) -o $@ $< -ldl -lxenstore -lxentoollog

## The C program dlopen()s the library as patched libxl does, against a sandboxed
## real daemon, each of them; then once more under valgrind memcheck.
## The library's messages about the failures the program provokes go to stderr: kept in a
## file, shown only if the program fails.
test-c: build $(CTEST)/abi_test
	@for d in $(DAEMONS); do \
		dir=$$(mktemp -d); \
		env=$$(XENSTORE_DAEMON=$$d $(SANDBOX) start $$dir) || exit 1; eval "$$env"; \
		echo "== abi_test on $$d"; \
		{ $(COUNT) $@ $(CTEST)/abi_test $(LIB) && \
		$(COUNT) $@ $(VALGRIND) $(CTEST)/abi_test $(LIB); } 2>$$dir/stderr && \
		echo "abi_test on $$d under valgrind: no errors, no leaks"; rc=$$?; \
		[ $$rc -eq 0 ] || cat $$dir/stderr >&2; \
		XENSTORE_DAEMON=$$d $(SANDBOX) stop $$dir >/dev/null; rm -rf $$dir; \
		[ $$rc -eq 0 ] || exit $$rc; \
	done
	@$(SUITE_DONE)

## The optional `domain-checks` build (docs/domain-checks.md), in its own target dir so
## that it never replaces the default build's artifacts.
DC_TARGET := target/domain-checks
DC_LIB := $(DC_TARGET)/release/libphysmap_hooks.so
FAKE_XENCTRL := $(DC_TARGET)/fake-xenctrl.so

build-domain-checks:
	$(CARGO) build --release --locked -p physmap-hooks --features domain-checks \
		--target-dir $(DC_TARGET)

lint-domain-checks:
	$(CARGO) clippy --locked --all-targets --features domain-checks \
		--target-dir $(DC_TARGET) -- -D warnings
	@$(SUITE_DONE)

## The default build never references libxenctrl; the domain-checks build links it.
check-xenctrl-linkage: build build-domain-checks
	@if nm -D $(LIB) | grep -q ' xc_' || readelf -d $(LIB) | grep -q 'NEEDED.*libxenctrl'; then \
		echo "$(LIB) references libxenctrl"; exit 1; \
	fi; \
	nm -D --undefined-only $(DC_LIB) | grep -q ' xc_domain_getinfolist' && \
	readelf -d $(DC_LIB) | grep -q 'NEEDED.*libxenctrl' || \
		{ echo "$(DC_LIB) does not link libxenctrl"; exit 1; }; \
	echo "xenctrl: none in $(LIB); $(DC_LIB) links" \
		"$$(readelf -d $(DC_LIB) | sed -n 's/.*NEEDED.*\[\(libxenctrl[^]]*\)\]/\1/p')"

$(FAKE_XENCTRL): tests/sandbox/fake-xenctrl.c
	@mkdir -p $(@D)
	$(CC) -shared -fPIC -Wall -Wextra -Werror -O2 -o $@ $<

$(CTEST)/domain_checks_test: tests/c/domain_checks_test.c tests/c/check.h $(HEADER)
	@mkdir -p $(CTEST)
	$(CC) $(TEST_CFLAGS) -o $@ $< -ldl -lxenstore

## Rust unit and integration tests of the feature build, then the C program that
## dlopen()s it with libxenctrl faked (LD_PRELOAD), plain and under valgrind.
test-domain-checks: check-xenctrl-linkage $(FAKE_XENCTRL) $(CTEST)/domain_checks_test
	$(COUNT) $@ $(CARGO) test --locked --features domain-checks --target-dir $(DC_TARGET) \
		--lib --test domain_checks
	@dir=$$(mktemp -d); trap '$(SANDBOX) stop '"$$dir"' >/dev/null; rm -rf '"$$dir" EXIT; \
	eval "$$($(SANDBOX) start $$dir)"; \
	{ $(COUNT) $@ env LD_PRELOAD=$(abspath $(FAKE_XENCTRL)) \
		$(CTEST)/domain_checks_test $(DC_LIB) && \
	$(COUNT) $@ env LD_PRELOAD=$(abspath $(FAKE_XENCTRL)) \
		$(VALGRIND) $(CTEST)/domain_checks_test $(DC_LIB); \
	} 2>$$dir/stderr || { cat $$dir/stderr >&2; exit 1; }; \
	echo "domain_checks_test under valgrind: no errors, no leaks"
	@$(SUITE_DONE)

## The libxl patches (xl-patches/): the plugin code they add, run from C against the
## built library and deliberately broken ones (plain, then setgid); the test's copy must
## be the patches' code verbatim; the ABI declarations they repeat must match the header
## (and altered copies must fail that check); every patch file must parse.
XL_SERIES := 4.17 4.20 master
## (0000-cover-letter.patch is a mail, not a patch: it must name the series' patches.)
XL_PATCHES = $(filter-out %/0000-cover-letter.patch,$(sort $(wildcard \
	$(foreach s,$(XL_SERIES),xl-patches/$(s)/*.patch xl-patches/$(s)/*/*.patch))))
PLUGINS := $(CTEST)/plugins

$(CTEST)/broken_abi.so: tests/c/broken_plugin.c
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -shared -fPIC -DBROKEN_ABI -o $@ $<

$(CTEST)/missing_symbol.so: tests/c/broken_plugin.c
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -shared -fPIC -DMISSING_SYMBOL -o $@ $<

$(CTEST)/null_strerror.so: tests/c/broken_plugin.c
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -shared -fPIC -DNULL_STRERROR -o $@ $<

$(CTEST)/plugin_loader_test: tests/c/plugin_loader_test.c tests/c/libxl_shim.h
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -o $@ $< -ldl

## The plugin code of patch 0001: from the ABI declarations to the end of
## libxl__physmap_plugin_restore().
LOADER_COPY = awk '/^.define PHYSMAP_ABI_VERSION 1$$/ {p=1} p {print} \
	p && /^int libxl__physmap_plugin_restore/ {u=1} u && /^}/ {exit}'
## The Linux functions the plugin code calls (patch 0001's part of libxl_linux.c).
LINUX_COPY = awk '/^const char .libxl__secure_getenv.*[^;]$$/ {p=1} p {print} \
	p && /^void .libxl__dlopen_fd.*[^;]$$/ {u=1} u && /^}/ {exit}'
LINUX_PART = awk '/^diff --git / {f = ($$3 == "a/tools/libs/light/libxl_linux.c")} \
	f && /^\+/ {print substr($$0, 2)}'
## The ABI declarations of patch 0001, renamed so that they can sit next to the header.
ABI_COPY = awk '/^.define PHYSMAP_ABI_VERSION 1$$/ {p=1} p {print} \
	p && /^typedef const char .physmap_strerror_fn/ {exit}' | \
	sed -e 's/\<PHYSMAP_/COPY_PHYSMAP_/g' \
	    -e 's/^struct physmap_hook_opts {/struct physmap_hook_opts_copy {/'
## Alterations of the ABI copy that abi_copy_test.c must reject, one per line.
ABI_MUTATIONS := \
	's/COPY_PHYSMAP_ABI_VERSION 1/COPY_PHYSMAP_ABI_VERSION 2/' \
	's/COPY_PHYSMAP_FORMAT_XENSTORE_KV 1/COPY_PHYSMAP_FORMAT_XENSTORE_KV 0/' \
	's/uint32_t flags;/uint64_t flags;/' \
	's/uint32_t dm_domid;/int32_t dm_domid;/' \
	'/uint32_t format;/{h;d}; /uint32_t flags;/{p;x}' \
	's/void \*logger;/void *logger; void *extra;/' \
	's/uint8_t \*\*buf, uint32_t \*len/uint8_t **buf, size_t *len/' \
	's/const uint8_t \*buf, uint32_t len/uint8_t *buf, uint32_t len/' \
	's/physmap_free_fn(void \*buf)/physmap_free_fn(uint8_t *buf)/' \
	's/typedef const char \*physmap_strerror_fn/typedef char *physmap_strerror_fn/' \
	's/typedef uint32_t physmap_abi_version_fn/typedef int physmap_abi_version_fn/'

## The files plugin_loader_test.c expects in its DIR (see its comment).
$(PLUGINS): build $(CTEST)/broken_abi.so $(CTEST)/missing_symbol.so $(CTEST)/null_strerror.so
	@rm -rf $@; mkdir -p $@
	@install -m 0755 $(LIB) $@/good.so
	@install -m 0755 $(CTEST)/broken_abi.so $(CTEST)/missing_symbol.so \
		$(CTEST)/null_strerror.so $@/
	@install -m 0775 $(LIB) $@/group_writable.so
	@install -m 0757 $(LIB) $@/world_writable.so
	@if [ "$$(id -u)" = 0 ]; then install -m 0755 -o nobody $(LIB) $@/foreign_owner.so; fi

test-loader: build $(CTEST)/plugin_loader_test $(PLUGINS)
	$(COUNT) $@ $(CTEST)/plugin_loader_test $(PLUGINS)
	@if [ "$$(id -u)" = 0 ]; then \
		cp $(CTEST)/plugin_loader_test $(CTEST)/plugin_loader_test.setgid && \
		chgrp nogroup $(CTEST)/plugin_loader_test.setgid && \
		chmod 2755 $(CTEST)/plugin_loader_test.setgid && \
		echo "$(CTEST)/plugin_loader_test.setgid --secure $(PLUGINS)" && \
		$(COUNT) $@ $(CTEST)/plugin_loader_test.setgid --secure $(PLUGINS); \
		rc=$$?; rm -f $(CTEST)/plugin_loader_test.setgid; exit $$rc; \
	else echo "SKIP secure: only root can make a setgid copy here"; fi
	@$(LOADER_COPY) tests/c/plugin_loader_test.c >$(CTEST)/loader.test.c
	@$(LINUX_COPY) tests/c/plugin_loader_test.c >$(CTEST)/linux.test.c
	@test -s $(CTEST)/loader.test.c && test -s $(CTEST)/linux.test.c
	@for s in $(XL_SERIES); do \
		sed -n 's/^+//p' xl-patches/$$s/0001-*.patch | $(LOADER_COPY) \
			>$(CTEST)/loader.$$s.c && \
		diff -u $(CTEST)/loader.$$s.c $(CTEST)/loader.test.c && \
		$(LINUX_PART) xl-patches/$$s/0001-*.patch | $(LINUX_COPY) \
			>$(CTEST)/linux.$$s.c && \
		diff -u $(CTEST)/linux.$$s.c $(CTEST)/linux.test.c || exit 1; \
	done; echo "loader: the test runs the plugin code (libxl_physmap_plugin.c and" \
		"libxl_linux.c) of the series $(XL_SERIES) verbatim"
	@for s in $(XL_SERIES); do \
		sed -n 's/^+//p' xl-patches/$$s/0001-*.patch | $(ABI_COPY) >$(CTEST)/abi_copy.$$s.h && \
		test "$$(grep -c '^typedef' $(CTEST)/abi_copy.$$s.h)" = 5 && \
		$(CC) $(TEST_CFLAGS) -fsyntax-only -DABI_COPY='"$(abspath $(CTEST))/abi_copy.'$$s'.h"' \
			tests/c/abi_copy_test.c || \
			{ echo "abi: the declarations in xl-patches/$$s/0001 differ from $(HEADER)" >&2; exit 1; }; \
	done; echo "abi: the ABI copy in the series $(XL_SERIES) matches $(HEADER)"
	@n=0; for m in $(ABI_MUTATIONS); do \
		sed -e "$$m" $(CTEST)/abi_copy.master.h >$(CTEST)/abi_copy.mutant.h; \
		if cmp -s $(CTEST)/abi_copy.master.h $(CTEST)/abi_copy.mutant.h; then \
			echo "abi: mutation $$m changed nothing" >&2; exit 1; fi; \
		if $(CC) $(TEST_CFLAGS) -fsyntax-only -DABI_COPY='"$(abspath $(CTEST))/abi_copy.mutant.h"' \
			tests/c/abi_copy_test.c 2>/dev/null; then \
			echo "abi: mutation $$m was not detected" >&2; exit 1; fi; \
		n=$$((n+1)); \
	done; echo "abi: all $$n altered copies of the declarations were rejected"
	@for p in $(XL_PATCHES); do \
		git apply --stat $$p >/dev/null && test -n "$$(git apply --numstat $$p)" \
			|| { echo "bad patch: $$p" >&2; exit 1; }; \
	done; echo "patches: all $(words $(XL_PATCHES)) files in xl-patches/ parse"
	@cover=xl-patches/master/0000-cover-letter.patch; n=0; \
	for p in $(filter-out %/0000-cover-letter.patch,$(wildcard xl-patches/master/*.patch)); do \
		n=$$((n+1)); \
		subject=$$(sed -n 's/^Subject: \[PATCH v[0-9]* [0-9]*\/[0-9]*\] //p' $$p); \
		[ -n "$$subject" ] && grep -qF "$$subject" $$cover || \
			{ echo "$$cover does not name $$p ('$$subject')" >&2; exit 1; }; \
	done; grep -q "^Subject: \[PATCH v[0-9]* 0/$$n\]" $$cover || \
		{ echo "$$cover: no subject [PATCH vN 0/$$n]" >&2; exit 1; }; \
	echo "patches: the cover letter is [PATCH vN 0/$$n] and names the $$n patches of master/"
	@$(SUITE_DONE)

## How long the hooks take (and so hold libxl's ctx lock) on a sandboxed real xenstored,
## alone and against a second writer; not part of `make check` (xl-patches/README.md).
$(CTEST)/hook_timing: tests/c/hook_timing.c $(HEADER)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -O2 -o $@ $< -ldl -lxenstore

.PHONY: hook-timing
hook-timing: build $(CTEST)/hook_timing
	@dir=$$(mktemp -d); trap '$(SANDBOX) stop '"$$dir"' >/dev/null; rm -rf '"$$dir" EXIT; \
	eval "$$($(SANDBOX) start $$dir)"; \
	$(CTEST)/hook_timing $(abspath $(LIB)) $(HOOK_TIMING_ITERATIONS)

## make check-patches XEN_SRC=<xen tree> [XEN_SERIES=4.17|4.20|master]: does each patch of
## the series apply cleanly to that tree? (git apply --check; nothing is built.) The series
## defaults to the one xl-patches/README.md names for the tree's Xen version (4.17 for
## 4.17 and 4.18, 4.20 for 4.19 to 4.22, master otherwise); 4.17/configure/ is included
## for a 4.17 tree that has a tools/configure (it does not apply to 4.18's).
XEN_SUBVERSION_OF_SRC = $(shell sed -n 's/^export XEN_SUBVERSION *= *\([0-9]*\).*/\1/p' \
	$(XEN_SRC)/xen/Makefile 2>/dev/null)
XEN_SERIES ?= $(strip $(or $(if $(filter 17 18,$(XEN_SUBVERSION_OF_SRC)),4.17), \
	$(if $(filter 19 20 21 22,$(XEN_SUBVERSION_OF_SRC)),4.20),master))
check-patches:
	@test -n "$(XEN_SRC)" || { echo "usage: make check-patches XEN_SRC=<xen tree> [XEN_SERIES=4.17|4.20|master]" >&2; exit 2; }
	@test -f $(XEN_SRC)/tools/libs/light/libxl_dom_save.c || { echo "$(XEN_SRC): not a Xen source tree" >&2; exit 2; }
	@echo "checking xl-patches/$(XEN_SERIES) against $(XEN_SRC)"
	@# A Xen tree inside another git repository would make git apply skip every file.
	@# 4.17/configure/ patches tools/configure, which Debian's tree (after its patches) lacks.
	cd $(XEN_SRC) && GIT_CEILING_DIRECTORIES="$$(dirname "$$PWD")" \
		git apply --check -v $(abspath $(filter-out %/0000-cover-letter.patch, \
			$(wildcard xl-patches/$(XEN_SERIES)/*.patch))) \
		$(if $(and $(wildcard $(XEN_SRC)/tools/configure),$(filter 17,$(XEN_SUBVERSION_OF_SRC))),$(abspath $(wildcard \
			xl-patches/$(XEN_SERIES)/configure/*.patch)))

## Installs into a temporary DESTDIR, builds a C program with pkg-config against it,
## runs it, and checks that uninstall removes every file.
test-install: build
	@dest=$$(mktemp -d); trap 'rm -rf '"$$dest" EXIT; \
	$(MAKE) --no-print-directory -s install DESTDIR=$$dest PREFIX=/usr; \
	export PKG_CONFIG_PATH=$$dest/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$$dest; \
	flags=$$(pkg-config --cflags --libs physmap-hooks); \
	$(CC) $(TEST_CFLAGS) -o $$dest/pkgconfig_test tests/c/pkgconfig_test.c $$flags; \
	readelf -d $$dest/pkgconfig_test | grep -q "NEEDED.*\[$(SONAME)\]"; \
	LD_LIBRARY_PATH=$$dest/usr/lib $$dest/pkgconfig_test; \
	LD_LIBRARY_PATH=$$dest/usr/lib $$dest/usr/bin/physmap-inspect --help >/dev/null; \
	test "$$(LD_LIBRARY_PATH=$$dest/usr/lib $$dest/usr/bin/physmap-inspect --version)" = \
		"physmap-inspect $(VERSION)" || { echo "physmap-inspect --version is wrong"; exit 1; }; \
	$(MAKE) --no-print-directory -s uninstall DESTDIR=$$dest PREFIX=/usr; \
	rm -f $$dest/pkgconfig_test; \
	left=$$(find $$dest ! -type d); \
	if [ -n "$$left" ]; then echo "uninstall left: $$left"; exit 1; fi; \
	echo "install: pkg-config build and run OK; uninstall removed every file"
	@$(SUITE_DONE)

install: build
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) \
		$(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(LIB) $(DESTDIR)$(LIBDIR)/$(REALNAME)
	ln -sf $(REALNAME) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/$(LIBNAME)
	install -m 0644 $(HEADER) $(DESTDIR)$(INCLUDEDIR)/
	install -m 0755 $(RELEASE)/physmap-inspect $(DESTDIR)$(BINDIR)/
	install -m 0644 docs/physmap-inspect.1 $(DESTDIR)$(MANDIR)/man1/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		physmap-hooks.pc.in >$(DESTDIR)$(LIBDIR)/pkgconfig/physmap-hooks.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/$(REALNAME) $(DESTDIR)$(LIBDIR)/$(SONAME) \
		$(DESTDIR)$(LIBDIR)/$(LIBNAME) \
		$(DESTDIR)$(LIBDIR)/pkgconfig/physmap-hooks.pc \
		$(DESTDIR)$(INCLUDEDIR)/physmap_hooks.h \
		$(DESTDIR)$(BINDIR)/physmap-inspect \
		$(DESTDIR)$(MANDIR)/man1/physmap-inspect.1

## The Debian packages (debian/) of one suite, DIST=bookworm|trixie|sid (default: the
## host's), built in a clean cached `debootstrap --variant=buildd` root of that suite,
## offline (unshare -n): trixie and sid with their own rustc/cargo and librust-*-dev crates,
## bookworm as a backport (build profile pkg.physmap-hooks.vendored: rustc-web and the
## crates of Cargo.lock, vendored); then that suite's lintian. Everything goes to
## target/debian/DIST/. See scripts/build-deb.sh.
DIST ?=
deb:
	scripts/build-deb.sh $(DIST)

## Installs the three packages of `make deb` into a throw-away root of the suite and purges
## them (nothing may be left), then runs their autopkgtests (debian/tests) with
## `autopkgtest -- chroot` on another. See scripts/test-deb.sh.
test-deb:
	scripts/test-deb.sh $(DIST)

check-deb: deb
	scripts/test-deb.sh $(DIST)

## make check's xenstore-facing tests (and abi_test) against another suite's daemons:
## trixie's Xen 4.20 xenstored and oxenstored, in a cached trixie root.
## See scripts/test-debian-daemons.sh.
check-daemons-trixie:
	scripts/test-debian-daemons.sh trixie

## scripts/build-patched-xen-deb.sh never builds a Xen older than the host's: its version
## choice on made-up dpkg databases, and the message when the source is not served.
test-xen-deb-version:
	scripts/test-build-patched-xen-deb.sh

## The above for Debian 12 (the host; make e2e installs these packages) and Debian 13,
## then make check's daemon tests on Debian 13's daemons. CI (.ci/run) runs all of it but
## check-daemons-trixie, which its time budget leaves out (README, Tests).
check-deb-suites: test-xen-deb-version
	$(MAKE) --no-print-directory check-deb DIST=bookworm
	$(MAKE) --no-print-directory check-deb DIST=trixie
	$(MAKE) --no-print-directory check-daemons-trixie

## Each decoder's fuzz target for FUZZ_SECONDS (cargo-fuzz on stable, see fuzz/README.md).
FUZZ_SECONDS ?= 60
fuzz:
	$(COUNT) $@ fuzz/run.sh $(FUZZ_SECONDS)
	@$(SUITE_DONE)

## Benchmarks (never part of check): the codec on a 1024-record section, then the hooks
## against libxl's built-in code on a real xenstored, which regenerates BENCHMARKS.md.
bench: build
	$(CARGO) bench --locked --bench codec
	benches/run.sh $(LIB) BENCHMARKS.md

## Every suite, in this order, each counted (scripts/check-count.sh); with -k a failed
## suite does not stop the others that do not need what failed. The last line is the
## totals over all of them: `make check: N passed, M failed`.
CHECK_SUITES := lint lint-domain-checks check-header check-symbols test-rust test-c \
	test-valgrind-concurrency test-domain-checks test-loader test-install test-demo \
	test-target-dir fuzz
check: bootstrap
	@export CHECK_RESULTS=$(abspath $(CTEST))/check-results; \
	mkdir -p $(CTEST); rm -f $$CHECK_RESULTS; \
	$(MAKE) --no-print-directory -k $(CHECK_SUITES); \
	scripts/check-totals.sh $$CHECK_RESULTS $$? $(CHECK_SUITES)

## The concurrency tests of tests/reliability.rs (32 threads through the C ABI, shared
## handle and own connections) under valgrind memcheck, with 20 cycles per thread.
test-valgrind-concurrency:
	@bin=$$($(CARGO) test --locked --no-run --test reliability 2>&1 | \
		sed -n 's/.*(\(.*\/deps\/reliability-[0-9a-f]*\)).*/\1/p' | head -n 1); \
	test -n "$$bin" || { echo "no reliability test binary"; exit 1; }; \
	PHYSMAP_TEST_CYCLES=20 $(COUNT) $@ $(VALGRIND) $$bin --exact --test-threads=1 \
		many_threads_share_one_borrowed_handle \
		many_threads_each_with_the_librarys_own_connections && \
	echo "concurrency tests under valgrind: no errors, no leaks"
	@$(SUITE_DONE)

## make demo, checked on each daemon: it exits non-zero when the restored tree differs or
## a damaged section gets written. Its headings are bold on a terminal (script(1) gives it
## one) and nowhere else: not in a log, not with NO_COLOR.
ESC := $(shell printf '\033')
test-demo: build
	@mkdir -p $(CTEST); for d in $(DAEMONS); do \
		XENSTORE_DAEMON=$$d $(COUNT) $@ demo/demo.sh $(LIB) >$(CTEST)/demo.$$d.log 2>&1 || \
			{ cat $(CTEST)/demo.$$d.log; exit 1; }; \
		echo "demo on $$d: saved, wiped, restored identically; damaged section refused"; \
	done
	@! grep -q '$(ESC)' $(foreach d,$(DAEMONS),$(CTEST)/demo.$(d).log) || \
		{ echo "demo: terminal escapes in a log" >&2; exit 1; }
	@script -qec 'demo/demo.sh $(LIB)' /dev/null >$(CTEST)/demo.tty.log 2>&1 && \
	grep -q '$(ESC)\[1m== 1\. ' $(CTEST)/demo.tty.log || \
		{ echo "demo: no bold heading on a terminal" >&2; exit 1; }
	@NO_COLOR=1 script -qec 'demo/demo.sh $(LIB)' /dev/null >$(CTEST)/demo.no_color.log 2>&1 && \
	grep -q '^== 1\. ' $(CTEST)/demo.no_color.log && ! grep -q '$(ESC)' $(CTEST)/demo.no_color.log || \
		{ echo "demo: terminal escapes despite NO_COLOR" >&2; exit 1; }
	@echo "demo: headings bold on a terminal only, and not with NO_COLOR"
	@$(SUITE_DONE)

## Real `xl save` / `xl restore` / `xl migrate` of an HVM guest under Debian's Xen 4.17
## booted in QEMU, with libxl built from Debian's source plus xl-patches/4.17 and this
## library's packages (make deb) installed in dom0, once per xenstore daemon
## (E2E_DAEMONS="oxenstored xenstored"). Results: target/e2e/. `make -o deb e2e` uses the
## packages already in target/debian/bookworm/.
E2E_DAEMONS ?= oxenstored xenstored
e2e: bootstrap deb
	e2e/run.sh $(E2E_DAEMONS)

## Migration between hosts: three Xen hosts in QEMU (two Debian 12 hosts, patched or
## stock, and a stock Debian 13 host) joined by links with no host network interface;
## `xl migrate` over ssh between them, once per daemon layout (E2E_FLEET_BOOTS="1 2").
## Results: target/e2e/fleet/. `make -o deb e2e-fleet` uses the packages already built.
E2E_FLEET_BOOTS ?= 1 2
e2e-fleet: bootstrap deb
	e2e/run-fleet.sh $(E2E_FLEET_BOOTS)

## What CI runs of it (.ci/run), within CI's time budget: the first boot (oxenstored on
## hosta, C xenstored on hostb, oxenstored on Debian 13's hostc) and scenarios 2-6 and 9:
## the mixed fleet both ways, the upgrade, the refused and the broken migration, which
## must leave the guest on the sender, and the save refused after suspension. The
## README's Tests section says why these.
E2E_FLEET_CI_SCENARIOS = 2 3 4 5 6 9
e2e-fleet-ci: bootstrap deb
	E2E_FLEET_SCENARIOS="$(E2E_FLEET_CI_SCENARIOS)" e2e/run-fleet.sh 1

## Every e2e host installs make deb's Debian 12 backport (e2e/stage.sh reads
## target/debian/bookworm/), whatever the suite of the machine that runs the test: the
## `deb` they depend on is built with DIST=bookworm (a DIST on the command line wins).
e2e e2e-fleet e2e-fleet-ci: DIST = bookworm

## make demo with cargo's builds elsewhere (CARGO_TARGET_DIR, as many Rust users set it):
## the Makefile and the scripts take the library and the tool from there.
ALT_TARGET := $(abspath $(CTEST))/cargo-target
test-target-dir:
	@mkdir -p $(CTEST); rm -rf $(ALT_TARGET)/release/libphysmap_hooks.so
	@CARGO_TARGET_DIR=$(ALT_TARGET) $(MAKE) --no-print-directory -s demo \
		>$(CTEST)/demo.target-dir.log 2>&1 || { cat $(CTEST)/demo.target-dir.log; exit 1; }
	@grep -qx 'library: $(ALT_TARGET)/release/libphysmap_hooks.so' $(CTEST)/demo.target-dir.log || \
		{ echo "make demo did not run the library from CARGO_TARGET_DIR:" >&2; \
		grep '^library: ' $(CTEST)/demo.target-dir.log >&2; exit 1; }
	@echo "demo with CARGO_TARGET_DIR=$(ALT_TARGET): built there, ran from there"
	@$(SUITE_DONE)

## Saves and restores a guest's records on a sandboxed daemon: the C xenstored, or
## oxenstored with `XENSTORE_DAEMON=oxenstored make demo`.
demo: bootstrap build
	@demo/demo.sh $(LIB)

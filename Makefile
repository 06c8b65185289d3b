# physmap-hooks: build, test, demo, install.
#
#   make demo     save and restore records on a sandboxed real xenstored
#   make check    every test (installs missing Debian packages first)
#   make install  PREFIX=/usr/local DESTDIR= LIBDIR=$(PREFIX)/lib
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

RELEASE := target/release
LIB := $(RELEASE)/libphysmap_hooks.so
HEADER := include/physmap_hooks.h
CTEST := target/ctest
TEST_CFLAGS := -Wall -Wextra -Werror -std=gnu11 -g -Iinclude
VALGRIND := valgrind --quiet --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect
SANDBOX := tests/sandbox/xenstored-sandbox.sh

LIBNAME := libphysmap_hooks.so
SONAME := $(LIBNAME).$(MAJOR)
REALNAME := $(LIBNAME).$(VERSION)

.PHONY: all build bootstrap header check-header check-symbols check lint \
	test-rust test-c test-install fuzz bench demo install uninstall

all: build

bootstrap:
	@scripts/bootstrap.sh

build:
	$(CARGO) build --release --locked

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

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

test-rust:
	$(CARGO) test --locked

$(CTEST)/abi_test: tests/c/abi_test.c $(HEADER)
	@mkdir -p $(CTEST)
	$(CC) $(TEST_CFLAGS) -o $@ $< -ldl -lxenstore -lxentoollog

## The C program dlopen()s the library as patched libxl does, against a sandboxed
## real xenstored; then once more under valgrind memcheck.
test-c: build $(CTEST)/abi_test
	@dir=$$(mktemp -d); trap '$(SANDBOX) stop '"$$dir"' >/dev/null; rm -rf '"$$dir" EXIT; \
	eval "$$($(SANDBOX) start $$dir)"; \
	$(CTEST)/abi_test $(LIB) && \
	$(VALGRIND) $(CTEST)/abi_test $(LIB) && echo "abi_test under valgrind: no errors, no leaks"

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
	$(MAKE) --no-print-directory -s uninstall DESTDIR=$$dest PREFIX=/usr; \
	rm -f $$dest/pkgconfig_test; \
	left=$$(find $$dest ! -type d); \
	if [ -n "$$left" ]; then echo "uninstall left: $$left"; exit 1; fi; \
	echo "install: pkg-config build and run OK; uninstall removed every file"

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

## Each decoder's fuzz target for FUZZ_SECONDS (cargo-fuzz on stable, see fuzz/README.md).
FUZZ_SECONDS ?= 60
fuzz:
	fuzz/run.sh $(FUZZ_SECONDS)

## Benchmarks (never part of check): decode/encode of a 1024-record section.
bench:
	$(CARGO) bench --locked --bench codec

check: bootstrap lint check-header build check-symbols test-rust test-c test-install fuzz
	@echo "make check: all passed"

## Saves and restores a guest's records on a sandboxed xenstored.
demo: bootstrap build
	@demo/demo.sh $(LIB)

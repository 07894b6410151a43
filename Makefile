# mospipe build. `make` builds everything; `make SAN=1` builds with
# ASan+UBSan into build-san/, `make TSAN=1` with TSan into build-tsan/. `make check` is the whole test suite (README).
PKGS := libdpdk liburcu-qsbr liburcu-cds libpcap libhs check
# The one version string: mospipe --version, midstat --version, mospipe.pc.
VERSION := 0.1

SAN ?= 0
TSAN ?= 0
FUZZ ?= 0
ifeq ($(FUZZ),1)
# libFuzzer targets (tests/fuzz/README.md): everything built by clang with
# coverage for the fuzzer plus ASan+UBSan into build-fuzz/; `make fuzz`.
B := build-fuzz
CC := clang
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(SAN),1)
B := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(TSAN),1)
# ThreadSanitizer: DPDK and liburcu are not instrumented, so the hand-offs
# through them are annotated (runtime/tsan.h); see tests/tsan/README.md.
B := build-tsan
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan
else
B := build
SANFLAGS :=
endif

CC ?= cc
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
INC := -Iinclude -Iruntime $(patsubst %,-I%,$(wildcard stages/*))
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-address-of-packed-member $(SANFLAGS) $(INC) $(PKG_CFLAGS) -MMD -MP
LDFLAGS += $(SANFLAGS)
# Tools in apps/ that are written against the public API only (apps/README.md)
# compile with these: include/ and the packages, no internal header.
PUBLIC_CFLAGS := -O2 -g -std=gnu11 -Wall -Wextra -Werror $(SANFLAGS) -Iinclude $(PKG_CFLAGS) -MMD -MP
# Tools' .mk files add their binaries and man pages here for `make install`.
INSTALL_BINS := $(B)/mospipe $(B)/midstat
INSTALL_MANS := apps/mospipe/mospipe.1 apps/midstat/midstat.1
LDLIBS += $(PKG_LIBS) -lm -lpthread

LIB_SRC := $(wildcard runtime/*.c) $(wildcard stages/*/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
LIB := $(B)/libmospipe.a

APPS := $(B)/mospipe
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(B)/tools/%)

.PHONY: all deps check unit regress inline san-check clean format format-check run
all: $(LIB) $(APPS) $(UNIT_BIN) $(TOOL_BIN)

# Only the tools print it: the library does not change with the version.
$(B)/apps/mospipe/main.o $(B)/apps/midstat/midstat.o: CFLAGS += -DMOSPIPE_VERSION='"$(VERSION)"'
$(B)/apps/mospipe/main.o $(B)/apps/midstat/midstat.o: Makefile

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# --whole-archive: stage types are found through symbols, not calls.
$(B)/mospipe: $(B)/apps/mospipe/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $< -Wl,--whole-archive $(LIB) -Wl,--no-whole-archive $(LDLIBS)

$(B)/tests/%: $(B)/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< -Wl,--whole-archive $(LIB) -Wl,--no-whole-archive $(LDLIBS)

$(B)/tools/%: $(B)/tests/tools/%.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LDLIBS)

deps:
	bash scripts/deps.sh

# Unit tests (Check). CK_FORK=no keeps ASan reports attached to the test.
unit: all
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; CK_VERBOSITY=normal $$t; done

regress: all
	bash tests/regress/run.sh $(B)

inline: all
	bash tests/inline/run.sh $(B)

# The sanitizer pass of the suite: unit and regression tests under ASan+UBSan.
san-check:
	$(MAKE) SAN=1 unit regress

# The namespace test of what classify lets into a stream (needs root).
.PHONY: parse-test
parse-test: all
	bash tests/inline/parse_test.sh $(B)

# Everything (unit, regression, inline, format, then sanitizers), summed up
# into one closing line by scripts/suite.sh.
check: deps
	bash scripts/suite.sh

run:
	bash scripts/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-tsan build-fuzz

-include bench/bench.mk
-include tests/fuzz/fuzz.mk
-include $(LIB_OBJ:.o=.d) $(B)/apps/mospipe/main.d
# Unit tests include internal headers: rebuild them when one changes.
-include $(UNIT_SRC:tests/unit/%.c=$(B)/tests/unit/%.d)
-include apps/apps.mk
# Each tool in apps/<name>/ brings its own <name>.mk (apps/README.md).
-include $(wildcard apps/*/*.mk)
# The evasion tests' programs (tests/evasion/).
-include tests/evasion/evasion.mk

# Install the library, the public headers and a pkg-config file, so that an
# mOS application builds with `pkg-config --cflags --libs mospipe`.
PREFIX ?= /usr/local
PC_REQ := libdpdk liburcu-qsbr liburcu-cds libpcap
.PHONY: install
install: all
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/mospipe \
		$(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/libmospipe.a
	# The public API and what the extension API needs (struct mp_conn_snap and
	# the connection table's readers: runtime/conntable.h, C library only).
	install -m 644 include/mos_api.h include/mtcp_api.h include/mospipe_ext.h runtime/conntable.h \
		$(DESTDIR)$(PREFIX)/include/mospipe/
	install -m 755 $(INSTALL_BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(INSTALL_MANS) $(DESTDIR)$(PREFIX)/share/man/man1/
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
		'Name: mospipe' 'Description: pipeline networking stack for stateful middleboxes (mOS API)' \
		'Version: $(VERSION)' 'Requires: $(PC_REQ)' 'Cflags: -I$${includedir}/mospipe' \
		'Libs: -L$${libdir} -Wl,--whole-archive -lmospipe -Wl,--no-whole-archive -lm -lpthread' \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/mospipe.pc

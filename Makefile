# mospipe build. `make` builds everything; `make SAN=1` builds with
# ASan+UBSan into build-san/, `make TSAN=1` with TSan into build-tsan/. `make check` is the whole test suite (README).
PKGS := libdpdk liburcu-qsbr liburcu-cds libpcap libhs check

SAN ?= 0
TSAN ?= 0
ifeq ($(SAN),1)
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
	rm -rf build build-san build-tsan

-include bench/bench.mk
-include $(LIB_OBJ:.o=.d) $(B)/apps/mospipe/main.d
-include apps/apps.mk
-include apps/midstat/midstat.mk

# Install the library, the public headers and a pkg-config file, so that an
# mOS application builds with `pkg-config --cflags --libs mospipe`.
PREFIX ?= /usr/local
PC_REQ := libdpdk liburcu-qsbr liburcu-cds libpcap
.PHONY: install
install: all
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/mospipe \
		$(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/libmospipe.a
	install -m 644 include/mos_api.h include/mtcp_api.h include/mospipe_ext.h $(DESTDIR)$(PREFIX)/include/mospipe/
	install -m 755 $(B)/mospipe $(B)/midstat $(DESTDIR)$(PREFIX)/bin/
	install -m 644 apps/midstat/midstat.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
		'Name: mospipe' 'Description: pipeline networking stack for stateful middleboxes (mOS API)' \
		'Version: 0.1' 'Requires: $(PC_REQ)' 'Cflags: -I$${includedir}/mospipe' \
		'Libs: -L$${libdir} -Wl,--whole-archive -lmospipe -Wl,--no-whole-archive -lm -lpthread' \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/mospipe.pc

# acct: per-subscriber data accounting with retransmission-abuse detection
# (apps/acct/README.md). Public API only: compiled with $(PUBLIC_CFLAGS).
ACCT_SRC := $(wildcard apps/acct/*.c)
ACCT_OBJ := $(ACCT_SRC:%.c=$(B)/%.o)
all: $(B)/acct
INSTALL_BINS += $(B)/acct
INSTALL_MANS += apps/acct/acct.1
$(B)/apps/acct/%.o: apps/acct/%.c
	@mkdir -p $(dir $@)
	$(CC) $(PUBLIC_CFLAGS) -c $< -o $@
$(B)/acct: $(ACCT_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(ACCT_OBJ) -Wl,--whole-archive $(LIB) -Wl,--no-whole-archive $(LDLIBS)
-include $(ACCT_OBJ:.o=.d)
# The test program of acct's API extension (tests/apps/acct/run.sh), built
# the same way: public headers only.
ACCT_TEST := $(B)/tests/apps/acct/ext_time
all: $(ACCT_TEST)
$(B)/tests/apps/acct/%.o: tests/apps/acct/%.c
	@mkdir -p $(dir $@)
	$(CC) $(PUBLIC_CFLAGS) -c $< -o $@
$(ACCT_TEST): $(B)/tests/apps/acct/ext_time.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $< -Wl,--whole-archive $(LIB) -Wl,--no-whole-archive $(LDLIBS)
-include $(B)/tests/apps/acct/ext_time.d

# firewall: a stateful inline firewall, built against the public API only
# (apps/README.md): include/ headers, $(PUBLIC_CFLAGS), the library.
TOOL_FIREWALL_OBJ := $(B)/apps/firewall/firewall.o $(B)/apps/firewall/dp.o $(B)/apps/firewall/rules.o
all: $(B)/firewall
INSTALL_BINS += $(B)/firewall
INSTALL_MANS += apps/firewall/firewall.1
$(B)/apps/firewall/%.o: apps/firewall/%.c
	@mkdir -p $(dir $@)
	$(CC) $(PUBLIC_CFLAGS) -c $< -o $@
$(B)/firewall: $(TOOL_FIREWALL_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(TOOL_FIREWALL_OBJ) -Wl,--whole-archive $(LIB) -Wl,--no-whole-archive $(LDLIBS)
-include $(TOOL_FIREWALL_OBJ:.o=.d)
# The test of the firewall's API extension (tests/apps/firewall/run.sh).
TOOL_FIREWALL_TEST_OBJ := $(B)/tests/apps/firewall/ext_test.o
all: $(B)/tests/apps/firewall/ext_test
$(B)/tests/apps/firewall/%.o: tests/apps/firewall/%.c
	@mkdir -p $(dir $@)
	$(CC) $(PUBLIC_CFLAGS) -c $< -o $@
$(B)/tests/apps/firewall/ext_test: $(TOOL_FIREWALL_TEST_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(TOOL_FIREWALL_TEST_OBJ) -Wl,--whole-archive $(LIB) -Wl,--no-whole-archive $(LDLIBS)
-include $(TOOL_FIREWALL_TEST_OBJ:.o=.d)

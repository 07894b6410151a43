# streamdump: written against the public API only (include/), like a user's
# program built with `pkg-config --cflags --libs mospipe` (apps/README.md).
TOOL_STREAMDUMP_OBJ := $(B)/apps/streamdump/streamdump.o $(B)/apps/streamdump/sd_out.o
all: $(B)/streamdump
INSTALL_BINS += $(B)/streamdump
INSTALL_MANS += apps/streamdump/streamdump.1
$(B)/apps/streamdump/%.o: apps/streamdump/%.c
	@mkdir -p $(dir $@)
	$(CC) $(PUBLIC_CFLAGS) -c $< -o $@
$(B)/streamdump: $(TOOL_STREAMDUMP_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(TOOL_STREAMDUMP_OBJ) -Wl,--whole-archive $(LIB) -Wl,--no-whole-archive $(LDLIBS)
-include $(TOOL_STREAMDUMP_OBJ:.o=.d)

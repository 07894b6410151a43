# The evasion tests' programs (tests/evasion/README.md): evbox, the mospipe
# side, written against the public headers only; evnids, libnids on the same
# capture for the record (libnids-dev, like bench/peers/nids_count).
EVASION_BIN := $(B)/evasion/evbox $(B)/evasion/evnids
all: $(EVASION_BIN)
$(B)/tests/evasion/evbox.o: tests/evasion/evbox.c
	@mkdir -p $(dir $@)
	$(CC) $(PUBLIC_CFLAGS) -c $< -o $@
$(B)/evasion/evbox: $(B)/tests/evasion/evbox.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< -Wl,--whole-archive $(LIB) -Wl,--no-whole-archive $(LDLIBS)
$(B)/tests/evasion/evnids.o: tests/evasion/evnids.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu11 -Wall -Wextra -Werror $(SANFLAGS) -MMD -MP -c $< -o $@
$(B)/evasion/evnids: $(B)/tests/evasion/evnids.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< -lnids -lpcap
-include $(B)/tests/evasion/evbox.d $(B)/tests/evasion/evnids.d

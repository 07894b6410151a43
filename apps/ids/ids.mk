# ids: signature IDS/IPS on the public API (apps/ids/README.md). The rule
# reader, the matching engine and the EVE writer need no mospipe; the libnids
# peer of the bench (bench/peers/nids_ids.c) links them too.
IDS_CORE_OBJ := $(B)/apps/ids/rules.o $(B)/apps/ids/rules_set.o $(B)/apps/ids/engine.o $(B)/apps/ids/eve.o
IDS_OBJ := $(B)/apps/ids/ids.o $(IDS_CORE_OBJ)
all: $(B)/ids $(B)/apps/ids/test_engine
INSTALL_BINS += $(B)/ids
INSTALL_MANS += apps/ids/ids.1
$(B)/apps/ids/%.o: apps/ids/%.c
	@mkdir -p $(dir $@)
	$(CC) $(PUBLIC_CFLAGS) -c $< -o $@
$(B)/ids: $(IDS_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(IDS_OBJ) -Wl,--whole-archive $(LIB) -Wl,--no-whole-archive $(LDLIBS)

# Engine test (tests/apps/ids/test_engine.c): streaming matcher against a
# whole-buffer reference over random chunkings; rules.o/engine.o only.
$(B)/apps/ids/test_engine.o: tests/apps/ids/test_engine.c
	@mkdir -p $(dir $@)
	$(CC) $(PUBLIC_CFLAGS) -Iapps/ids -c $< -o $@
$(B)/apps/ids/test_engine: $(B)/apps/ids/test_engine.o $(IDS_CORE_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ -lhs -lm

# The bench peer: libnids reassembly + the same rules and engine.
$(B)/bench/nids_ids: $(B)/apps/ids/nids_ids.o $(IDS_CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lnids -lhs -lpcap -lm
$(B)/apps/ids/nids_ids.o: bench/peers/nids_ids.c
	@mkdir -p $(dir $@)
	$(CC) $(PUBLIC_CFLAGS) -Iapps/ids -c $< -o $@

-include $(IDS_OBJ:.o=.d) $(B)/apps/ids/test_engine.d $(B)/apps/ids/nids_ids.d

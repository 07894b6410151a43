# bench/: the workload generator (bench/gen.c, library and `gen` tool).
# Included by the main Makefile; $(B) is build/ or build-san/ (SAN=1).
#
# gen.o also goes into libmospipe.a so that stages (rx, as an input) and the
# unit tests can call the generator; it needs neither DPDK nor EAL.

GEN_OBJ := $(B)/bench/gen.o

all: $(B)/bench/gen $(B)/bench/gen-speed

$(LIB): $(GEN_OBJ)

$(B)/bench/gen: $(B)/bench/gen_main.o $(GEN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# gen-speed: frames/s of gen_next() on this machine (prints, asserts nothing).
$(B)/bench/gen-speed: $(B)/bench/gen_speed.o $(GEN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The unit test includes bench/gen.h and runs the gen tool (pcap round trip).
$(B)/tests/unit/test_gen.o: CFLAGS += -Ibench
# It needs only gen.o, so it links that rather than the whole libmospipe.a
# (an explicit rule: it takes precedence over the $(B)/tests/% pattern).
$(B)/tests/test_gen: $(B)/tests/unit/test_gen.o $(GEN_OBJ) | $(B)/bench/gen
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(B)/tests/unit/test_gen.o $(GEN_OBJ) $(LDLIBS)

# bench: the throughput harness (`make bench`, bench/run) comes later.

-include $(B)/bench/gen.d $(B)/bench/gen_main.d $(B)/bench/gen_speed.d

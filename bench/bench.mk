# bench/: the workload generator (bench/gen.c, library and `gen` tool).
# Included by the main Makefile; $(B) is build/ or build-san/ (SAN=1).
#
# gen.o also goes into libmospipe.a so that stages (rx, as an input) and the
# unit tests can call the generator; it needs neither DPDK nor EAL.

GEN_OBJ := $(B)/bench/gen.o

all: $(B)/bench/gen

$(LIB): $(GEN_OBJ)

$(B)/bench/gen: $(B)/bench/gen_main.o $(GEN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The unit test includes bench/gen.h and runs the gen tool (pcap round trip).
$(B)/tests/unit/test_gen.o: CFLAGS += -Ibench
$(B)/tests/test_gen: | $(B)/bench/gen

# bench: the throughput harness (`make bench`, bench/run) comes later.

-include $(B)/bench/gen.d $(B)/bench/gen_main.d

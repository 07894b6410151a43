# bench/: the tools around the workload generator (`gen`, `gen-speed`) and
# the throughput harness. Included by the main Makefile; $(B) is build/ or
# build-san/ (SAN=1).
#
# The generator itself is an input kind of the runtime (runtime/gen.[ch],
# `[input] source = gen:...`): it is in libmospipe.a like any runtime file.
# It needs neither DPDK nor EAL, so the tools link its object alone.

GEN_OBJ := $(B)/runtime/gen.o

all: $(B)/bench/gen $(B)/bench/gen-speed

$(B)/bench/gen: $(B)/bench/gen_main.o $(GEN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# gen-speed: frames/s of gen_next() on this machine (prints, asserts nothing).
$(B)/bench/gen-speed: $(B)/bench/gen_speed.o $(GEN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# chase: this machine's memory latency floor (bench/floor.py; prints, asserts
# nothing).
all: $(B)/bench/chase
$(B)/bench/chase: $(B)/bench/chase.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

# The unit test runs the gen tool (pcap round trip).
# It needs only gen.o, so it links that rather than the whole libmospipe.a
# (an explicit rule: it takes precedence over the $(B)/tests/% pattern).
$(B)/tests/test_gen: $(B)/tests/unit/test_gen.o $(GEN_OBJ) | $(B)/bench/gen
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(B)/tests/unit/test_gen.o $(GEN_OBJ) $(LDLIBS)

# ---- the throughput harness (bench/run, bench/README.md §2) ----------------
# Peers and bench apps are not part of `all`: the peers need libnids, the apps
# the mOS API (stages/app); bench/run builds each with `make -k` and reports
# what did not build as skipped.
BENCH_PEERS := $(B)/bench/pcapfloor $(B)/bench/nids_count
BENCH_APPS := $(B)/bench/pktcount $(B)/bench/hs_search
# The bench apps are mOS API programs like any other: built with everything, so
# that bench/smoke.sh exercises them in the suite (it skipped them while they
# were built only on demand).
all: $(BENCH_APPS)

.PHONY: bench bench-quick bench-peers bench-apps bench-smoke
bench-peers: $(BENCH_PEERS)
bench-apps: $(BENCH_APPS)

$(B)/bench/pcapfloor: $(B)/bench/peers/pcapfloor.o
	$(CC) $(LDFLAGS) -o $@ $^ -lpcap

$(B)/bench/nids_count: $(B)/bench/peers/nids_count.o
	$(CC) $(LDFLAGS) -o $@ $^ -lnids -lhs -lpcap -lm

# Applications link the stack like mospipe does (stage types are found
# through symbols, hence --whole-archive).
$(B)/bench/%: $(B)/bench/apps/%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $< -Wl,--whole-archive $(LIB) -Wl,--no-whole-archive $(LDLIBS)

# The whole harness (about 10 minutes on a 2-core VM); results in bench/results/.
bench: all
	python3 bench/run

bench-quick: all
	python3 bench/run --quick

bench-smoke: all
	bash bench/smoke.sh $(B)

-include $(B)/bench/gen_main.d $(B)/bench/gen_speed.d $(B)/bench/chase.d
-include $(B)/bench/peers/pcapfloor.d $(B)/bench/peers/nids_count.d
-include $(B)/bench/apps/pktcount.d $(B)/bench/apps/hs_search.d

# libFuzzer targets (tests/fuzz/README.md). `make fuzz` builds them with
# clang into build-fuzz/ (FUZZ=1: the library too, with coverage for the
# fuzzer and ASan+UBSan) and runs each one briefly on its seed corpus;
# FUZZ_SECS=N runs each for N seconds, FUZZ_RUNS=N for N executions.
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/fuzz/%)
.PHONY: fuzz fuzz-build fuzz-bins

fuzz-build:
	$(MAKE) FUZZ=1 fuzz-bins

fuzz: fuzz-build
	bash tests/fuzz/run.sh build-fuzz $(if $(FUZZ_RUNS),--runs $(FUZZ_RUNS),--secs $(or $(FUZZ_SECS),15))

ifeq ($(FUZZ),1)
fuzz-bins: $(FUZZ_BIN)

build-fuzz/fuzz/%: build-fuzz/tests/fuzz/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) -fsanitize=fuzzer,address,undefined -o $@ $(filter %.o,$^) $(LIB) $(LDLIBS)

# The tools' parsers: their objects (built by the tools' .mk rules, with the
# fuzzer's coverage) linked beside the target.
build-fuzz/fuzz/fuzz_idsrules: build-fuzz/apps/ids/rules.o build-fuzz/apps/ids/rules_set.o build-fuzz/apps/ids/engine.o
build-fuzz/tests/fuzz/fuzz_idsrules.o: CFLAGS += -Iapps/ids
build-fuzz/fuzz/fuzz_fwrules: build-fuzz/apps/firewall/rules.o
build-fuzz/tests/fuzz/fuzz_fwrules.o: CFLAGS += -Iapps/firewall
build-fuzz/fuzz/fuzz_acctsubs: build-fuzz/apps/acct/acct_sub.o
build-fuzz/tests/fuzz/fuzz_acctsubs.o: CFLAGS += -Iapps/acct

-include $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/tests/fuzz/%.d)
endif

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
	$(CC) -fsanitize=fuzzer,address,undefined -o $@ $< $(LIB) $(LDLIBS)

-include $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/tests/fuzz/%.d)
endif

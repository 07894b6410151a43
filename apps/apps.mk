# mOS-API example programs (tests/api/*.c), each built as $(B)/api/<name>,
# linked with the whole library (stage types are found through symbols).
API_SRC := $(wildcard tests/api/*.c)
API_BIN := $(API_SRC:tests/api/%.c=$(B)/api/%)

all: $(API_BIN)

$(B)/api/%: $(B)/tests/api/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< -Wl,--whole-archive $(LIB) -Wl,--no-whole-archive $(LDLIBS)

api: all
	bash tests/api/run.sh $(B)

.PHONY: api
-include $(API_SRC:tests/api/%.c=$(B)/tests/api/%.d)

# The run-to-completion equivalence with more bursts and mappings than the
# regression suite runs (tests/regress/equiv.py --full).
equiv-full: all
	python3 tests/regress/equiv.py --build $(B) --results /dev/null --full
.PHONY: equiv-full

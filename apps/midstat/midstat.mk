# midstat: built from the library like any mOS application.
MIDSTAT_OBJ := $(B)/apps/midstat/midstat.o $(B)/apps/midstat/view.o
all: $(B)/midstat
$(B)/midstat: $(MIDSTAT_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(MIDSTAT_OBJ) -Wl,--whole-archive $(LIB) -Wl,--no-whole-archive $(LDLIBS)
-include $(MIDSTAT_OBJ:.o=.d)

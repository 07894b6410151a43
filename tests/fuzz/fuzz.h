/* What the libFuzzer targets share: a check that stops the run (a finding)
 * and a file of the input's bytes for readers that open a path. */
#ifndef MP_FUZZ_H
#define MP_FUZZ_H

#include <stdio.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

/* A property the code must keep: a trap is a finding, with its input kept. */
#define CHECK(c)                                                                                                       \
	do {                                                                                                           \
		if (!(c))                                                                                              \
			__builtin_trap();                                                                              \
	} while (0)

#ifdef _GNU_SOURCE /* memfd_create */
/* An in-memory file holding n bytes at p, named in path as
 * /proc/self/fd/N (the readers fuzzed open a path). @return its descriptor,
 * for the caller to close. */
static inline int fuzz_memfile(const char *name, const void *p, size_t n, char *path, size_t plen)
{
	int fd = memfd_create(name, 0);
	CHECK(fd >= 0);
	CHECK(n == 0 || write(fd, p, n) == (ssize_t)n);
	snprintf(path, plen, "/proc/self/fd/%d", fd);
	return fd;
}
#endif

#endif

/* libFuzzer target: the pipeline.conf parser (runtime/conf.c), with the
 * command-line forms (--set section.key=value) and the lcore map.
 * Input: a file's text; after a NUL byte, a list of --set assignments one a
 * line. Checked: no crash, no undefined behaviour, no leak; a refused input
 * has an error message that names something (never empty); an accepted one
 * resolves (mp_conf_finish) or is refused with a message, and what it
 * accepted stays within each key's bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = 0;
	size_t tl = strlen(text);
	struct mp_conf c;
	char err[1024];
	mp_conf_defaults(&c);
	err[0] = 0;
	int r = mp_conf_parse_buf(&c, "fuzz.conf", text, err, sizeof(err));
	if (r < 0) {
		CHECK(err[0] != 0);
	} else if (tl < size) {
		/* the rest: --set assignments */
		char *save = NULL;
		for (char *a = strtok_r(text + tl + 1, "\n", &save); a; a = strtok_r(NULL, "\n", &save)) {
			err[0] = 0;
			if (mp_conf_set_dotted(&c, a, err, sizeof(err)) < 0) {
				CHECK(err[0] != 0);
				break;
			}
		}
	}
	if (r == 0) {
		err[0] = 0;
		if (mp_conf_finish(&c, err, sizeof(err)) < 0)
			CHECK(err[0] != 0);
		CHECK(c.burst >= 1 && c.burst <= 256);
		CHECK(c.ring_size >= 64 && (c.ring_size & (c.ring_size - 1)) == 0);
		CHECK(c.mode <= 1 && c.frag_policy <= 3 && c.unparsable <= 1);
		CHECK(c.n_lcores <= MP_MAX_LCORES);
	}
	free(text);
	return 0;
}

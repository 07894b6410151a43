/* Unit tests of the pipeline.conf parser: defaults, every error class with
 * its file:line message, units, command-line overrides, the lcore map, and
 * that the checked-in pipeline.conf documents every key. No EAL needed. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

static struct mp_conf c;
static char err[1200];

static int parse(const char *text)
{
	mp_conf_defaults(&c);
	err[0] = 0;
	int r = mp_conf_parse_buf(&c, "t.conf", text, err, sizeof(err));
	if (r == 0)
		r = mp_conf_finish(&c, err, sizeof(err));
	return r;
}

#define EXPECT_ERR(text, needle)                                                                                       \
	do {                                                                                                           \
		ck_assert_int_lt(parse(text), 0);                                                                      \
		ck_assert_msg(strstr(err, needle) != NULL, "message '%s' lacks '%s'", err, needle);                    \
	} while (0)

START_TEST(defaults_single_lcore)
{
	ck_assert_int_eq(parse(""), 0);
	ck_assert_uint_eq(c.mode, MP_MODE_MONITOR);
	ck_assert_uint_eq(c.burst, 32);
	ck_assert_uint_eq(c.ring_size, 1024);
	ck_assert_uint_eq(c.n_lcores, 1);
	ck_assert_uint_eq(c.lc[0].n, MP_ST_N);
	for (int s = 0; s < MP_ST_N; s++)
		ck_assert_uint_eq(c.n_inst[s], 1);
	ck_assert_uint_eq(c.idle_timeout_ms, 300000);
	ck_assert_uint_eq(c.buf_size, 65536);
	ck_assert_uint_eq(c.checksum, MP_CSUM_VERIFY);
}
END_TEST

START_TEST(values_and_units)
{
	ck_assert_int_eq(parse("[pipeline]\nmode = inline\nburst=64 # comment\n"
	                       "[tcp]\nidle_timeout = 500ms\nsyn_timeout = 2m\ntime_wait = 3\n"
	                       "buf_size = 16K\nbuf_pool = 1G\nmidstream = no\nchecksum = ignore\noverlap = last\n"
	                       "[eal]\nargs = \"--no-huge -m 64 # not a comment\"\n"),
	                 0);
	ck_assert_uint_eq(c.mode, MP_MODE_INLINE);
	ck_assert_uint_eq(c.burst, 64);
	ck_assert_uint_eq(c.idle_timeout_ms, 500);
	ck_assert_uint_eq(c.syn_timeout_ms, 120000);
	ck_assert_uint_eq(c.time_wait_ms, 3000);
	ck_assert_uint_eq(c.buf_size, 16384);
	ck_assert_uint_eq(c.buf_pool, 1ULL << 30);
	ck_assert_uint_eq(c.midstream, 0);
	ck_assert_uint_eq(c.checksum, MP_CSUM_IGNORE);
	ck_assert_uint_eq(c.overlap, MP_OVERLAP_LAST);
	ck_assert_str_eq(c.eal_args, "--no-huge -m 64 # not a comment");
}
END_TEST

START_TEST(unknown_key)
{
	EXPECT_ERR("[pipeline]\n\nfoo = 1\n", "t.conf:3: unknown key 'foo' in [pipeline]");
	ck_assert_msg(strstr(err, "known: mode, burst") != NULL, "should list known keys: %s", err);
}
END_TEST

START_TEST(unknown_section)
{
	EXPECT_ERR("# hi\n[pipelines]\n", "t.conf:2: unknown section [pipelines]");
}
END_TEST

START_TEST(bad_values)
{
	EXPECT_ERR("[pipeline]\nburst = lots\n", "t.conf:2: 'burst' expects a whole number, not 'lots'");
	EXPECT_ERR("[pipeline]\nburst = 0\n", "t.conf:2: 'burst' = 0 is out of range (1 to 256)");
	EXPECT_ERR("[pipeline]\nmode = fast\n", "t.conf:2: 'mode' expects one of monitor, inline, not 'fast'");
	EXPECT_ERR("[tcp]\nmidstream = maybe\n", "'midstream' expects yes or no");
	EXPECT_ERR("[tcp]\nidle_timeout = 5 parsecs\n", "'idle_timeout' expects a duration");
	EXPECT_ERR("[tcp]\nbuf_size = 12Q\n", "'buf_size' expects a size");
	EXPECT_ERR("[tcp]\nchecksum = maybe\n", "expects one of verify, ignore");
}
END_TEST

START_TEST(ring_not_pow2)
{
	EXPECT_ERR("[pipeline]\nring_size = 1000\n", "t.conf:2: 'ring_size' = 1000 is not a power of two (try 1024)");
	EXPECT_ERR("[ports]\nrx_desc = 100\n", "not a power of two");
}
END_TEST

START_TEST(stage_unmapped)
{
	EXPECT_ERR("[pipeline]\nburst=8\n[lcores]\n0 = rx classify tcpsm events app\n",
	           "t.conf:3: stage 'tx' is mapped to no lcore");
}
END_TEST

START_TEST(lcore_missing)
{
	EXPECT_ERR("[lcores]\n0 = rx classify tcpsm\n99 = events app tx\n", "t.conf:3: lcore 99 does not exist");
	EXPECT_ERR("[lcores]\nzero = rx\n", "t.conf:2: [lcores] keys are lcore numbers");
}
END_TEST

START_TEST(lcore_map_errors)
{
	EXPECT_ERR("[lcores]\n0 = rx classify tcpsm tcpsm events app tx\n", "tcpsm.0 is mapped twice");
	EXPECT_ERR("[lcores]\n0 = rx classify tcpsm.1 events app tx\n", "tcpsm.0 is mapped to no lcore");
	EXPECT_ERR("[lcores]\n0 = rx classify tcpsm events app tx nat\n", "t.conf:2: unknown stage 'nat'");
	EXPECT_ERR("[lcores]\n0 = rx classify tcpsm.x events app tx\n", "bad instance 'tcpsm.x'");
	EXPECT_ERR("[lcores]\n0 = \n", "lcore 0 runs no stage");
}
END_TEST

START_TEST(lcore_map_two)
{
	ck_assert_int_eq(parse("[lcores]\n0 = rx classify tcpsm.0\n1 = tcpsm.1, events app tx\n"), 0);
	ck_assert_uint_eq(c.n_lcores, 2);
	ck_assert_uint_eq(c.n_inst[MP_ST_TCPSM], 2);
	ck_assert_uint_eq(c.lc[1].lcore, 1);
	ck_assert_uint_eq(c.lc[1].item[0].stage, MP_ST_TCPSM);
	ck_assert_uint_eq(c.lc[1].item[0].inst, 1);
}
END_TEST

START_TEST(syntax_errors)
{
	EXPECT_ERR("mode = inline\n", "t.conf:1: key 'mode' comes before any [section]");
	EXPECT_ERR("[pipeline]\njust words\n", "t.conf:2: expected 'key = value'");
	EXPECT_ERR("[pipeline\n", "t.conf:1: malformed section header");
	EXPECT_ERR("[eal]\nargs = \"open\n", "t.conf:2: unterminated quote");
	EXPECT_ERR("[pipeline]\n = 3\n", "t.conf:2: missing key");
}
END_TEST

START_TEST(overrides)
{
	ck_assert_int_eq(parse("[pipeline]\nmode = inline\n"), 0);
	ck_assert_int_eq(mp_conf_set_dotted(&c, "pipeline.mode=monitor", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.mode, MP_MODE_MONITOR);
	ck_assert_int_lt(mp_conf_set_dotted(&c, "pipeline.nokey=1", err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "unknown key 'nokey'"));
	ck_assert_int_lt(mp_conf_set_dotted(&c, "nodot=1", err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "not section.key=value"));
}
END_TEST

START_TEST(env_overrides)
{
	ck_assert_int_eq(parse("[pipeline]\nmode = inline\n"), 0);
	setenv("MOSPIPE_SET", "pipeline.mode=monitor; tcp.flows=1024", 1);
	ck_assert_int_eq(mp_conf_apply_env(&c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.mode, MP_MODE_MONITOR);
	ck_assert_uint_eq(c.flows, 1024);
	setenv("MOSPIPE_SET", "tcp.flows=many", 1);
	ck_assert_int_lt(mp_conf_apply_env(&c, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "MOSPIPE_SET: 'flows' expects a whole number"));
	unsetenv("MOSPIPE_SET");
	ck_assert_int_eq(mp_conf_apply_env(&c, err, sizeof(err)), 0);
}
END_TEST

START_TEST(missing_file)
{
	mp_conf_defaults(&c);
	ck_assert_int_lt(mp_conf_load(&c, "/nonexistent/pipeline.conf", err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/pipeline.conf: cannot open"));
}
END_TEST

/* The checked-in pipeline.conf parses and mentions every key, so the
 * documentation cannot fall behind conf_keys.def. */
START_TEST(shipped_conf_complete)
{
	const char *path = getenv("MOSPIPE_SRC") ? getenv("MOSPIPE_SRC") : ".";
	char file[512];
	snprintf(file, sizeof(file), "%s/pipeline.conf", path);
	mp_conf_defaults(&c);
	ck_assert_msg(mp_conf_load(&c, file, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(mp_conf_finish(&c, err, sizeof(err)) == 0, "%s", err);

	FILE *f = fopen(file, "r");
	ck_assert_ptr_nonnull(f);
	static char text[65536];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = 0;
	fclose(f);

	char *save = NULL, *line;
	char sec[64] = "";
	FILE *h = open_memstream(&line, &n);
	mp_conf_print_help(h);
	fclose(h);
	for (char *l = strtok_r(line, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (l[0] == '[') {
			snprintf(sec, sizeof(sec), "%s", l);
			char needle[80];
			snprintf(needle, sizeof(needle), "\n%s\n", sec);
			ck_assert_msg(strstr(text, needle), "pipeline.conf lacks section %s", sec);
			continue;
		}
		char key[64];
		if (strcmp(sec, "[lcores]") && l[0] == ' ' && l[2] != ' ' && sscanf(l, "  %63s default", key) == 1) {
			char needle[80];
			snprintf(needle, sizeof(needle), "\n%s = ", key);
			ck_assert_msg(strstr(text, needle), "pipeline.conf does not document %s %s", sec, key);
		}
	}
	free(line);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("conf");
	TCase *t = tcase_create("parser");
	tcase_add_test(t, defaults_single_lcore);
	tcase_add_test(t, values_and_units);
	tcase_add_test(t, unknown_key);
	tcase_add_test(t, unknown_section);
	tcase_add_test(t, bad_values);
	tcase_add_test(t, ring_not_pow2);
	tcase_add_test(t, stage_unmapped);
	tcase_add_test(t, lcore_missing);
	tcase_add_test(t, lcore_map_errors);
	tcase_add_test(t, lcore_map_two);
	tcase_add_test(t, syntax_errors);
	tcase_add_test(t, overrides);
	tcase_add_test(t, env_overrides);
	tcase_add_test(t, missing_file);
	tcase_add_test(t, shipped_conf_complete);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Unit tests of the pipeline.conf parser: defaults, every error class with
 * its file:line message, units, command-line overrides, the lcore map, and
 * that the checked-in pipeline.conf documents every key. No EAL needed. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "mospipe_ext.h"

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

/* mospipe_args(): the tools' shared command line reaches the conf through the
 * environment mtcp_init() reads, and leaves the tool's own arguments. */
START_TEST(tool_args)
{
	char *argv[] = {"/usr/bin/ids",
	                "-S",
	                "r.rules",
	                "-r",
	                "x.pcap",
	                "--set",
	                "tcp.flows=2048",
	                "-m",
	                "inline",
	                "-l",
	                "logs",
	                "--lcores=0=rx,classify,tcpsm;1=events,app,tx",
	                "--",
	                "-r",
	                NULL};
	int argc = 14;
	const char *conf = "unset";
	unsetenv("MOSPIPE_SET");
	unsetenv("MOSPIPE_INPUT");
	unsetenv("MOSPIPE_LCORES");
	ck_assert_int_eq(mospipe_args(&argc, argv, "l", &conf), 0);
	ck_assert_ptr_null(conf);
	/* Kept, in order: the tool's -S and -l (it owns -l), and "--" with what follows. */
	ck_assert_int_eq(argc, 7);
	ck_assert_str_eq(argv[1], "-S");
	ck_assert_str_eq(argv[2], "r.rules");
	ck_assert_str_eq(argv[3], "-l");
	ck_assert_str_eq(argv[4], "logs");
	ck_assert_str_eq(argv[5], "--");
	ck_assert_str_eq(argv[6], "-r");
	ck_assert_ptr_null(argv[7]);
	ck_assert_str_eq(getenv("MOSPIPE_INPUT"), "pcap:x.pcap");
	mp_conf_defaults(&c);
	ck_assert_int_eq(mp_conf_apply_env(&c, err, sizeof(err)), 0);
	ck_assert_int_eq(mp_conf_finish(&c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.flows, 2048);
	ck_assert_uint_eq(c.mode, MP_MODE_INLINE);
	ck_assert_uint_eq(c.n_lcores, 2);
	ck_assert_uint_eq(c.lc[1].n, 3);

	char *bad[] = {"acct", "-r", NULL};
	argc = 2;
	ck_assert_int_lt(mospipe_args(&argc, bad, NULL, &conf), 0);
	char *two[] = {"acct", "-r", "a.pcap", "-i", "eth0", "-c", "p.conf", NULL};
	argc = 7;
	ck_assert_int_lt(mospipe_args(&argc, two, NULL, &conf), 0);
	char *withconf[] = {"acct", "-c", "p.conf", "-o", "out.json", NULL};
	argc = 5;
	ck_assert_int_eq(mospipe_args(&argc, withconf, NULL, &conf), 0);
	ck_assert_str_eq(conf, "p.conf");
	ck_assert_int_eq(argc, 3);
	unsetenv("MOSPIPE_SET");
	unsetenv("MOSPIPE_INPUT");
	unsetenv("MOSPIPE_LCORES");
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

/* [input] filter: empty by default; a BPF expression is kept whole (its
 * spaces, '=' and brackets), from the file, --set and $MOSPIPE_SET. */
START_TEST(filter_key)
{
	ck_assert_int_eq(parse(""), 0);
	ck_assert_str_eq(c.filter, "");
	ck_assert_int_eq(parse("[input]\nfilter = tcp port 80 and not host 10.0.0.1  # web only\n"), 0);
	ck_assert_str_eq(c.filter, "tcp port 80 and not host 10.0.0.1");
	ck_assert_int_eq(parse("[input]\nfilter = \"tcp[13] & 2 != 0\"\n"), 0);
	ck_assert_str_eq(c.filter, "tcp[13] & 2 != 0");
	ck_assert_int_eq(mp_conf_set_dotted(&c, "input.filter=tcp[tcpflags] = tcp-syn", err, sizeof(err)), 0);
	ck_assert_str_eq(c.filter, "tcp[tcpflags] = tcp-syn");
	setenv("MOSPIPE_SET", "pipeline.mode=inline;input.filter=ip6 and tcp", 1);
	ck_assert_int_eq(mp_conf_apply_env(&c, err, sizeof(err)), 0);
	unsetenv("MOSPIPE_SET");
	ck_assert_str_eq(c.filter, "ip6 and tcp");
	ck_assert_uint_eq(c.mode, MP_MODE_INLINE);
}
END_TEST

/* mp_parse_scaled: the one number reader, for the conf keys and the gen:
 * input spec (runtime/input.c), with its three suffix tables. */
START_TEST(parse_scaled_units)
{
	uint64_t v;
	ck_assert_int_eq(mp_parse_scaled("64k", mp_units_size, 1, &v), 0);
	ck_assert_uint_eq(v, 65536);
	ck_assert_int_eq(mp_parse_scaled("64KiB", mp_units_size, 1, &v), 0);
	ck_assert_uint_eq(v, 65536);
	ck_assert_int_eq(mp_parse_scaled("1m", mp_units_size, 1, &v), 0);
	ck_assert_uint_eq(v, 1048576);
	ck_assert_int_eq(mp_parse_scaled("192k", mp_units_count, 1, &v), 0);
	ck_assert_uint_eq(v, 192000);
	ck_assert_int_eq(mp_parse_scaled("2M", mp_units_count, 1, &v), 0);
	ck_assert_uint_eq(v, 2000000);
	ck_assert_int_eq(mp_parse_scaled("3g", mp_units_count, 1, &v), 0);
	ck_assert_uint_eq(v, 3000000000ULL);
	ck_assert_int_eq(mp_parse_scaled("1000000", mp_units_count, 1, &v), 0);
	ck_assert_uint_eq(v, 1000000);
	ck_assert_int_eq(mp_parse_scaled("5", mp_units_dur, 1000, &v), 0);
	ck_assert_uint_eq(v, 5000);
	ck_assert_int_eq(mp_parse_scaled("2m", mp_units_dur, 1000, &v), 0);
	ck_assert_uint_eq(v, 120000);
	/* Not numbers: a sign, a space, an unknown suffix, an overflow. */
	ck_assert_int_eq(mp_parse_scaled("-1", mp_units_count, 1, &v), -EINVAL);
	ck_assert_int_eq(mp_parse_scaled(" 1", mp_units_count, 1, &v), -EINVAL);
	ck_assert_int_eq(mp_parse_scaled("1x", mp_units_count, 1, &v), -EINVAL);
	ck_assert_int_eq(mp_parse_scaled("1KB", mp_units_count, 1, &v), -EINVAL);
	ck_assert_int_eq(mp_parse_scaled("", mp_units_count, 1, &v), -EINVAL);
	ck_assert_int_eq(mp_parse_scaled("18446744073709551615k", mp_units_count, 1, &v), -EINVAL);
	ck_assert_int_eq(mp_parse_scaled("99999999999999999999", mp_units_count, 1, &v), -EINVAL);
}
END_TEST

/* Stage names come from one list (MP_STAGE_LIST): ids, names and the
 * [lcores] parser agree, and messages list them in pipeline order. */
/* tcp.policy, tcp.overlap = target (the default), tcp.urgent, tcp.min_ttl
 * and [policy]: networks by prefix, from the file and --set, and messages
 * that name what is wrong. */
START_TEST(receiver_policies)
{
	ck_assert_int_eq(parse(""), 0);
	ck_assert_uint_eq(c.policy, MP_POLICY_LINUX);
	ck_assert_uint_eq(c.overlap, MP_OVERLAP_TARGET);
	ck_assert_uint_eq(c.urgent, MP_URGENT_REMOVE);
	ck_assert_uint_eq(c.min_ttl, 0);
	ck_assert_uint_eq(c.n_policy_nets, 0);
	ck_assert_int_eq(parse("[tcp]\npolicy = windows\nurgent = inline\nmin_ttl = 5\noverlap = first\n"
	                       "[policy]\n10.1.2.3/16 = linux\n2001:db8::1/32 = windows\n192.0.2.7 = windows\n"
	                       "10.1.0.0/16 = windows\n"),
	                 0);
	ck_assert_uint_eq(c.policy, MP_POLICY_WINDOWS);
	ck_assert_uint_eq(c.urgent, MP_URGENT_INLINE);
	ck_assert_uint_eq(c.min_ttl, 5);
	ck_assert_uint_eq(c.overlap, MP_OVERLAP_FIRST);
	ck_assert_uint_eq(c.n_policy_nets, 3); /* 10.1/16 given twice: the later line wins */
	ck_assert_uint_eq(c.policy_nets[0].plen, 16);
	ck_assert_uint_eq(c.policy_nets[0].addr[2], 0); /* host bits cleared */
	ck_assert_uint_eq(c.policy_nets[0].policy, MP_POLICY_WINDOWS);
	ck_assert_uint_eq(c.policy_nets[1].v6, 1);
	ck_assert_uint_eq(c.policy_nets[2].plen, 32);
	char e2[256];
	ck_assert_int_eq(mp_conf_set_dotted(&c, "policy.fd00::/8=linux", e2, sizeof(e2)), 0);
	ck_assert_uint_eq(c.n_policy_nets, 4);
	EXPECT_ERR("[policy]\n10.0.0.0/8 = solaris\n", "linux or windows");
	EXPECT_ERR("[policy]\nnot-an-address = linux\n", "is not an address or network");
	EXPECT_ERR("[policy]\n10.0.0.0/33 = linux\n", "prefix length is 0 to 32");
	EXPECT_ERR("[tcp]\npolicy = bsd\n", "policy");
	EXPECT_ERR("[tcp]\nmin_ttl = 300\n", "min_ttl");
}
END_TEST

START_TEST(stage_names_one_list)
{
	static const char *const want[] = {"rx", "classify", "tcpsm", "events", "app", "tx"};
	for (int s = 0; s < MP_ST_N; s++) {
		ck_assert_str_eq(mp_stage_names[s], want[s]);
		ck_assert_int_eq(mp_stage_by_name(want[s]), s);
	}
	ck_assert_int_eq(mp_stage_by_name("nosuch"), -1);
	EXPECT_ERR("[lcores]\n0 = rx bogus\n", "(stages: rx classify tcpsm events app tx)");
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
	tcase_add_test(t, tool_args);
	tcase_add_test(t, missing_file);
	tcase_add_test(t, shipped_conf_complete);
	tcase_add_test(t, filter_key);
	tcase_add_test(t, parse_scaled_units);
	tcase_add_test(t, stage_names_one_list);
	tcase_add_test(t, receiver_policies);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

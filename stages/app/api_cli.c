/* mospipe_args(): the command line every mospipe tool shares (include/mospipe_ext.h).
 *
 * An mOS application only hands mtcp_init() a conf path, so the input, the
 * mode and single keys reach the stack through the environment that
 * mtcp_init() reads ($MOSPIPE_INPUT, $MOSPIPE_SET, $MOSPIPE_LCORES). This
 * turns mospipe's own options into those variables and leaves the rest of
 * argv to the application, so that every tool spells -r, -i, -c, -m and
 * --set the same way without parsing them itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mospipe_ext.h"

#define SET_MAX 8192

static int set_append(char *set, const char *prog, const char *sec_key, const char *val)
{
	size_t n = strlen(set);
	if (strchr(val, ';')) {
		fprintf(stderr, "%s: value '%s' of %s may not contain ';'\n", prog, val, sec_key);
		return -1;
	}
	int w = snprintf(set + n, SET_MAX - n, "%s%s=%s", n ? ";" : "", sec_key, val);
	if (w < 0 || (size_t)w >= SET_MAX - n) {
		fprintf(stderr, "%s: too many --set options\n", prog);
		return -1;
	}
	return 0;
}

/* The value of an option at argv[*i]: "--opt=VAL", "-oVAL", or the next
 * argument. @return it, or NULL after a message when it is missing. */
static const char *opt_value(int argc, char **argv, int *i, const char *prog, size_t namelen)
{
	const char *a = argv[*i];
	if (a[1] == '-' && a[namelen] == '=')
		return a + namelen + 1;
	if (a[1] != '-' && a[2])
		return a + 2;
	if (*i + 1 >= argc) {
		fprintf(stderr, "%s: option %s needs a value (see %s --help)\n", prog, a, prog);
		return NULL;
	}
	return argv[++*i];
}

struct opt {
	char s;          /* short form, 0 = none */
	const char *l;   /* long form without "--" */
	const char *key; /* section.key it sets, or a special: "@input-r", "@input-i", "@conf", "@lcores" */
};

static const struct opt opts[] = {
    {'c', "conf", "@conf"},
    {'r', "read", "@input-r"},
    {'i', "iface", "@input-i"},
    {'m', "mode", "pipeline.mode"},
    {'w', "write", "output.pcap"},
    {'C', "checksum", "tcp.checksum"},
    {'l', "lcores", "@lcores"},
    {'s', "set", "@set"},
    {0, "flow-log", "output.flow_log"},
    {0, "counters-json", "output.counters_json"},
};

static const struct opt *match(const char *a, size_t *namelen, const char *own)
{
	if (a[0] != '-' || !a[1])
		return NULL;
	for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
		const struct opt *o = &opts[k];
		if (a[1] == '-') {
			size_t n = strlen(o->l);
			if (!strncmp(a + 2, o->l, n) && (a[2 + n] == 0 || a[2 + n] == '=')) {
				*namelen = n + 2;
				return o;
			}
		} else if (o->s && a[1] == o->s && !(own && strchr(own, o->s))) {
			*namelen = 2;
			return o;
		}
	}
	return NULL;
}

int mospipe_args(int *argc, char **argv, const char *own, const char **conf)
{
	const char *prog = *argc > 0 && argv[0] ? argv[0] : "mospipe";
	const char *p = strrchr(prog, '/');
	static char set[SET_MAX], input[4096], lcores[4096];
	int out = 1;

	if (p)
		prog = p + 1;
	if (!argc || !argv || !conf) {
		errno = EINVAL;
		return -1;
	}
	*conf = NULL;
	const char *env = getenv("MOSPIPE_SET");
	snprintf(set, sizeof(set), "%s", env ? env : "");
	input[0] = lcores[0] = 0;
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		size_t nl = 0;
		if (!strcmp(a, "--")) {
			/* The rest belongs to the application, "--" included. */
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		const struct opt *o = match(a, &nl, own);
		if (!o) {
			argv[out++] = argv[i];
			continue;
		}
		const char *v = opt_value(*argc, argv, &i, prog, nl);
		if (!v)
			goto bad;
		if (!strcmp(o->key, "@conf"))
			*conf = v;
		else if (!strcmp(o->key, "@input-r") || !strcmp(o->key, "@input-i")) {
			if (*input) {
				fprintf(stderr, "%s: give one input (-r FILE[,FILE] or -i IF[,IF]), not several\n",
				        prog);
				goto bad;
			}
			snprintf(input, sizeof(input), "%s:%s", o->key[7] == 'r' ? "pcap" : "iface", v);
		} else if (!strcmp(o->key, "@lcores")) {
			snprintf(lcores, sizeof(lcores), "%s", v);
		} else if (!strcmp(o->key, "@set")) {
			const char *eq = strchr(v, '='), *dot = strchr(v, '.');
			if (!eq || !dot || dot > eq) {
				fprintf(stderr, "%s: --set %s: expected SECTION.KEY=VALUE\n", prog, v);
				goto bad;
			}
			char sk[128];
			snprintf(sk, sizeof(sk), "%.*s", (int)(eq - v), v);
			if (set_append(set, prog, sk, eq + 1) < 0)
				goto bad;
		} else if (set_append(set, prog, o->key, v) < 0) {
			goto bad;
		}
	}
	argv[out] = NULL;
	*argc = out;
	if (*input && setenv("MOSPIPE_INPUT", input, 1) < 0)
		goto bad;
	if (*set && setenv("MOSPIPE_SET", set, 1) < 0)
		goto bad;
	if (*lcores && setenv("MOSPIPE_LCORES", lcores, 1) < 0)
		goto bad;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

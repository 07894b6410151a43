/* libFuzzer target: acct's subscriber prefix file (apps/acct/acct_sub.c,
 * `acct --subscribers FILE`: "PREFIX [NAME]" a line) and the longest-prefix
 * match every flow's addresses go through.
 * Input: the file's text; after a NUL byte, addresses to look up (4 or 16
 * bytes each, the first byte of each record choosing the family).
 * Checked besides ASan/UBSan/LSan, against a reference made here from libc's
 * inet_pton and a scan of every prefix:
 * - the file is accepted exactly when every non-blank line is a prefix
 *   inet_pton reads, with a length in range, no host bits and no
 *   duplicate, and a name of at most 128 bytes of UTF-8;
 * - for an accepted file, each address (and each prefix's own first and
 *   last address) matches the longest listed prefix that holds it, with
 *   that line's name, or none when no prefix holds it. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "acct.h"
#include "fuzz.h"

/* What acct.c (the tool's main) defines: unused by the prefix file. */
struct acct_opts acct_o;
struct actx acct_ctx[ACCT_MAX_CTX];
unsigned acct_nctx;
uint64_t acct_keep;
FILE *acct_out;

struct ref {
	uint8_t fam, plen, addr[16];
	char name[130];
};

static int utf8(const unsigned char *p)
{
	while (*p) {
		unsigned n = *p < 0x80                  ? 0
		             : *p >= 0xc2 && *p <= 0xdf ? 1
		             : (*p & 0xf0) == 0xe0      ? 2
		             : (*p & 0xf8) == 0xf0      ? 3
		                                        : 9;
		if (n == 9)
			return 0;
		p++;
		for (unsigned i = 0; i < n; i++, p++)
			if ((*p & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

static int holds(const struct ref *r, unsigned fam, const uint8_t *a)
{
	if (r->fam != fam)
		return 0;
	for (unsigned b = 0; b < r->plen; b++)
		if (((r->addr[b / 8] ^ a[b / 8]) >> (7 - b % 8)) & 1)
			return 0;
	return 1;
}

/* The reference reading of the file: 1 accepted, 0 refused. */
static int ref_load(const char *text, struct ref **out, unsigned *n)
{
	struct ref *v = NULL;
	unsigned cnt = 0;
	int ok = 1;
	char *copy = strdup(text), *save = NULL;
	for (char *ln = strtok_r(copy, "\n", &save); ln && ok; ln = strtok_r(NULL, "\n", &save)) {
		if (strlen(ln) > 1098) {
			ok = 0;
			break;
		}
		char *h = strchr(ln, '#');
		if (h)
			*h = 0;
		char *p = ln;
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			continue;
		char *tok = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		if (*p)
			*p++ = 0;
		while (isspace((unsigned char)*p))
			p++;
		char *e = p + strlen(p);
		while (e > p && isspace((unsigned char)e[-1]))
			*--e = 0;
		struct ref r = {0};
		char *sl = strchr(tok, '/');
		long plen = -1;
		if (sl) {
			*sl = 0;
			char *end;
			if (!isdigit((unsigned char)sl[1]))
				ok = 0;
			plen = strtol(sl + 1, &end, 10);
			if (*end || plen > 128)
				ok = 0;
		}
		if (inet_pton(AF_INET, tok, r.addr) == 1)
			r.fam = 4;
		else if (inet_pton(AF_INET6, tok, r.addr) == 1)
			r.fam = 6;
		else
			ok = 0;
		if (!ok || e - p > 128 || !utf8((const unsigned char *)p)) {
			ok = 0;
			break;
		}
		unsigned max = r.fam == 4 ? 32 : 128;
		if (plen > (long)max) {
			ok = 0;
			break;
		}
		r.plen = (uint8_t)(plen < 0 ? max : plen);
		for (unsigned b = r.plen; b < max; b++)
			if ((r.addr[b / 8] >> (7 - b % 8)) & 1)
				ok = 0;
		for (unsigned i = 0; i < cnt && ok; i++)
			if (v[i].fam == r.fam && v[i].plen == r.plen && !memcmp(v[i].addr, r.addr, 16))
				ok = 0;
		if (!ok)
			break;
		snprintf(r.name, sizeof(r.name), "%s", p);
		v = realloc(v, (cnt + 1) * sizeof(*v));
		v[cnt++] = r;
	}
	free(copy);
	if (!cnt)
		ok = 0;
	*out = v;
	*n = cnt;
	return ok;
}

static void lookup(const struct ref *v, unsigned n, unsigned fam, const uint8_t *a)
{
	int best = -1;
	for (unsigned i = 0; i < n; i++)
		if (holds(&v[i], fam, a) && (best < 0 || v[i].plen > v[best].plen))
			best = (int)i;
	struct acct_key k = {.family = (uint8_t)fam, .plen = fam == 4 ? 32 : 128}, got;
	memcpy(k.addr, a, fam == 4 ? 4 : 16);
	int32_t pfx = -1;
	int m = acct_subs_match(&k, &got, &pfx);
	CHECK(m == (best >= 0));
	if (m) {
		CHECK(got.family == fam && got.plen == v[best].plen);
		CHECK(!memcmp(got.addr, v[best].addr, 16));
		const char *name = acct_subs_name(pfx);
		CHECK(v[best].name[0] ? name && !strcmp(name, v[best].name) : name == NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 32768)
		return 0;
	size_t flen = strnlen((const char *)data, size);
	char *text = strndup((const char *)data, flen);
	/* The reference reads lines as the tool's 1,100-byte buffer does only
	 * for lines that fit it; '\r' and other blanks are isspace in both. */
	char path[64];
	int fd = fuzz_memfile("fuzz.subs", text, flen, path, sizeof(path));
	struct ref *v;
	unsigned n;
	int want = ref_load(text, &v, &n);
	FILE *saved = stderr;
	stderr = fopen("/dev/null", "w");
	int r = acct_subs_load(path);
	fclose(stderr);
	stderr = saved;
	CHECK((r == 0) == want);
	if (r == 0) {
		for (unsigned i = 0; i < n; i++) {
			uint8_t a[16];
			memcpy(a, v[i].addr, 16);
			lookup(v, n, v[i].fam, a);
			unsigned max = v[i].fam == 4 ? 32 : 128;
			for (unsigned b = v[i].plen; b < max; b++)
				a[b / 8] |= (uint8_t)(0x80 >> (b % 8));
			lookup(v, n, v[i].fam, a);
			if (v[i].plen) {
				a[(v[i].plen - 1) / 8] ^= (uint8_t)(0x80 >> ((v[i].plen - 1) % 8));
				lookup(v, n, v[i].fam, a);
			}
		}
		for (size_t o = flen + 1; o + 17 <= size; o += 17)
			lookup(v, n, data[o] & 1 ? 6 : 4, data + o + 1);
	}
	acct_subs_free();
	free(v);
	close(fd);
	free(text);
	return 0;
}

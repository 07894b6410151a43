/* pipeline.conf's [policy] section: which receiving hosts are modelled on
 * which TCP stack (tcp.policy is the default), one network per line:
 *
 *   [policy]
 *   10.1.0.0/16 = windows
 *   2001:db8::/32 = linux
 *
 * tcpsm looks the receiver's address up at each flow's creation (longest
 * prefix wins: stages/tcpsm/tcpsm_accept.c). Kept apart from conf.c because
 * its keys are addresses, not names from conf_keys.def. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

const char *const mp_policy_names[MP_POLICY_N + 1] = {"linux", "windows", NULL};

int mp_policy_by_name(const char *name)
{
	for (int i = 0; i < MP_POLICY_N; i++)
		if (!strcmp(mp_policy_names[i], name))
			return i;
	return -1;
}

int mp_conf_set_policy_net(struct mp_conf *c, const char *net, const char *val, char *err, size_t errlen)
{
	char buf[128];
	struct mp_policy_net pn;
	memset(&pn, 0, sizeof(pn));
	int pol = mp_policy_by_name(val);
	if (pol < 0) {
		snprintf(err, errlen, "[policy] %s = '%s': the policy is linux or windows", net, val);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", net);
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = 0;
	if (inet_pton(AF_INET, buf, pn.addr) == 1) {
		pn.plen = 32;
	} else if (inet_pton(AF_INET6, buf, pn.addr) == 1) {
		pn.v6 = 1;
		pn.plen = 128;
	} else {
		snprintf(err, errlen, "[policy] '%s' is not an address or network (e.g. 10.0.0.0/8 = windows)", net);
		return -EINVAL;
	}
	if (slash) {
		char *end;
		unsigned long l = strtoul(slash + 1, &end, 10);
		if (!slash[1] || *end || l > pn.plen) {
			snprintf(err, errlen, "[policy] '%s': the prefix length is 0 to %u", net, pn.plen);
			return -EINVAL;
		}
		pn.plen = (uint8_t)l;
	}
	/* Host bits are cleared, so that the lookup compares whole bytes. */
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = pn.plen > i * 8 ? pn.plen - i * 8 : 0;
		if (keep < 8)
			pn.addr[i] &= (uint8_t)(keep ? 0xff << (8 - keep) : 0);
	}
	pn.policy = (uint8_t)pol;
	for (unsigned i = 0; i < c->n_policy_nets; i++) {
		struct mp_policy_net *o = &c->policy_nets[i];
		if (o->v6 == pn.v6 && o->plen == pn.plen && !memcmp(o->addr, pn.addr, 16)) {
			o->policy = pn.policy; /* a later line (or --set) overrides */
			return 0;
		}
	}
	if (c->n_policy_nets == MP_MAX_POLICY_NETS) {
		snprintf(err, errlen, "[policy] has more than %d networks: merge some into wider prefixes",
		         MP_MAX_POLICY_NETS);
		return -EINVAL;
	}
	c->policy_nets[c->n_policy_nets++] = pn;
	return 0;
}

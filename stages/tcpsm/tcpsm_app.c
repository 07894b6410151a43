/* tcpsm_app: the flow's control word applied to its reassembly buffers, and
 * accessors the app stage uses (see tcpsm_app.h). Runs on tcpsm's thread
 * except the accessors, which only read fields fixed at flow creation. */
#include <string.h>

#include "reasm.h"
#include "tcpsm_app.h"

uint32_t tcpsm_app_default_ctl;
uint32_t (*tcpsm_app_want_size)(void *app, unsigned side);

static void apply_side(struct tcpsm_flow *f, uint32_t ctl, unsigned s)
{
	struct reasm *r = f->s[s].buf;
	if (!r)
		return;
	int off = (ctl & (TCPSM_CTL_STOP(s) | TCPSM_CTL_BUFOFF(s))) != 0;
	int reader = (ctl & TCPSM_CTL_READER(s)) && !off;
	if (r->reader != reader)
		reasm_set_reader(r, reader);
	if (ctl & TCPSM_CTL_POLSET(s))
		reasm_set_policy(r, (ctl & TCPSM_CTL_POLLAST(s)) ? REASM_OVERLAP_LAST : REASM_OVERLAP_FIRST);
	if (off && r->size != 0 && !r->want_pending)
		reasm_resize(r, 0);
	if (!off && (ctl & TCPSM_CTL_RESIZE(s))) {
		uint32_t sz = tcpsm_app_want_size && f->app ? tcpsm_app_want_size(f->app, s) : 0;
		if (sz)
			reasm_resize(r, sz);
		tcpsm_app_ctl_clear(f, TCPSM_CTL_RESIZE(s));
	}
	/* A resize waits for the reader to catch up (reasm.h); reasm only
	 * retries it on inserts, so retry at every packet of the flow too. */
	if (r->want_pending)
		reasm_resize(r, r->want_size);
}

void tcpsm_app_apply(struct tcpsm_flow *f)
{
	uint32_t ctl = tcpsm_app_ctl(f);
	if (!(ctl & TCPSM_CTL_INIT)) {
		/* First packet: only tcpsm knows the flow yet. */
		ctl |= tcpsm_app_default_ctl | TCPSM_CTL_INIT;
		tcpsm_app_ctl_set(f, ctl);
	}
	if (!(f->s[0].buf || f->s[1].buf))
		return;
	apply_side(f, ctl, 0);
	apply_side(f, ctl, 1);
}

void tcpsm_app_buf_created(struct tcpsm_flow *f, unsigned side)
{
	apply_side(f, tcpsm_app_ctl(f), side & 1);
}

int tcpsm_app_addr(const struct tcpsm_flow *f, unsigned side, uint8_t addr[16], uint16_t *port)
{
	int a = (side == 0) == (f->cli_is_a != 0);
	memcpy(addr, a ? f->key.a : f->key.b, 16);
	*port = a ? f->key.pa : f->key.pb;
	return f->key.v6;
}

uint32_t tcpsm_app_base_seq(const struct tcpsm_flow *f, unsigned side)
{
	return f->s[side & 1].base_seq;
}

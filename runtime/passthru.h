/* A poll that forwards a burst unchanged to output slot 0: what the middle
 * stages do with packets that are not theirs to process. */
#ifndef MP_PASSTHRU_H
#define MP_PASSTHRU_H

#include "stage.h"

static inline unsigned mp_passthru_poll(struct mp_stage_inst *si, unsigned slot)
{
	struct rte_mbuf *b[256];
	unsigned n = mp_in_burst(si, b, si->pl->conf->burst);
	if (n)
		mp_out_send(si, slot, b, n);
	return n;
}

#endif

/* Counters out of the pipeline: totals for the conservation law, a text
 * report, JSON (--counters-json) and DPDK telemetry (/mospipe/...).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ring.h>
#include <rte_telemetry.h>
#include <pthread.h>

#include "conf.h"
#include "pipeline.h"
#include "stage.h"

/* The common counters' descriptors (their ids are in stage-types.h). */
#define MP_CTR_STAGE mp_common
#define MP_CTR_DEF "common_counters.def"
#define MP_CTR_DESCS_ONLY
#include "counters-gen.h"

static const struct mp_ctr_desc *ctr_desc(const struct mp_stage_inst *si, unsigned i)
{
	return i < MP_CC_N ? &mp_common_ctrs[i] : &si->type->ctrs[i - MP_CC_N];
}

static unsigned n_ctrs(const struct mp_stage_inst *si)
{
	return MP_CC_N + si->type->n_ctrs;
}

static void add_drop(struct mp_totals *t, const char *name, uint64_t n)
{
	t->drops += n;
	for (unsigned i = 0; i < t->n_drops; i++)
		if (!strcmp(t->drop[i].name, name)) {
			t->drop[i].n += n;
			return;
		}
	if (t->n_drops < MP_MAX_DROP_KINDS) {
		t->drop[t->n_drops].name = name;
		t->drop[t->n_drops].n = n;
		t->n_drops++;
	}
}

void mp_totals(const struct mp_pipeline *pl, struct mp_totals *t)
{
	memset(t, 0, sizeof(*t));
	for (int s = 0; s < MP_ST_N; s++)
		for (unsigned i = 0; i < pl->n_inst[s]; i++) {
			const struct mp_stage_inst *si = pl->inst[s][i];
			for (unsigned k = 0; k < n_ctrs(si); k++) {
				const struct mp_ctr_desc *d = ctr_desc(si, k);
				uint64_t v = mp_ctr_get(si, k);
				if (s == MP_ST_RX && k == MP_CC_IN) {
					t->rx += v; /* what entered the pipeline */
					continue;
				}
				switch (d->kind) {
				case MP_CK_DROP: add_drop(t, d->name, v); break;
				case MP_CK_OUT: t->tx += v; break;
				case MP_CK_IN_BYTES: t->rx_bytes += v; break;
				case MP_CK_INJECTED: t->injected += v; break;
				case MP_CK_MISSED: t->port_missed += v; break;
				default: break;
				}
			}
		}
}

static double cycles_per_pkt(const struct mp_stage_inst *si)
{
	uint64_t in = mp_ctr_get(si, MP_CC_IN);
	return in ? (double)mp_ctr_get(si, MP_CC_BUSY_CYCLES) / (double)in : 0.0;
}

static double busy_pct(const struct mp_stage_inst *si)
{
	uint64_t b = mp_ctr_get(si, MP_CC_BUSY_POLLS), i = mp_ctr_get(si, MP_CC_IDLE_POLLS);
	return b + i ? 100.0 * (double)b / (double)(b + i) : 0.0;
}

void mp_report_print(const struct mp_pipeline *pl, FILE *f)
{
	struct mp_totals t;
	mp_totals(pl, &t);
	double secs = pl->end_tsc > pl->start_tsc ? (double)(pl->end_tsc - pl->start_tsc) / (double)pl->tsc_hz : 0;
	fprintf(f, "mospipe: %s mode, %u lcore(s), %u port(s), %.3f s\n",
	        pl->conf->mode == MP_MODE_INLINE ? "inline" : "monitor", pl->n_runs, pl->n_ports, secs);
	fprintf(f, "totals: rx %" PRIu64 "  injected %" PRIu64 "  tx %" PRIu64 "  drops %" PRIu64, t.rx, t.injected,
	        t.tx, t.drops);
	for (unsigned i = 0; i < t.n_drops; i++)
		if (t.drop[i].n)
			fprintf(f, "  %s=%" PRIu64, t.drop[i].name, t.drop[i].n);
	uint64_t lhs = t.rx + t.injected, rhs = t.tx + t.drops;
	fprintf(f, "\nconservation: rx+injected %" PRIu64 " %s tx+drops %" PRIu64 "%s\n", lhs,
	        lhs == rhs ? "==" : "!=", rhs, lhs == rhs ? "" : " (packets still in flight)");
	if (t.port_missed)
		fprintf(f,
		        "ports: %" PRIu64 " frames lost before rx (port_missed): the ports saw rx+port_missed %" PRIu64
		        "\n",
		        t.port_missed, t.rx + t.port_missed);
	for (int s = 0; s < MP_ST_N; s++)
		for (unsigned i = 0; i < pl->n_inst[s]; i++) {
			const struct mp_stage_inst *si = pl->inst[s][i];
			fprintf(f, "  %-8s.%u lcore %-2u  cyc/pkt %7.1f  busy %5.1f%%", mp_stage_names[s], i, si->lcore,
			        cycles_per_pkt(si), busy_pct(si));
			for (unsigned k = 0; k < n_ctrs(si); k++) {
				if (k == MP_CC_BUSY_POLLS || k == MP_CC_IDLE_POLLS || k == MP_CC_BUSY_CYCLES)
					continue;
				uint64_t v = mp_ctr_get(si, k);
				if (v || k < MP_CC_N)
					fprintf(f, "  %s%s=%" PRIu64,
					        ctr_desc(si, k)->kind == MP_CK_DROP ? "drop." : "",
					        ctr_desc(si, k)->name, v);
			}
			fputc('\n', f);
		}
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

int mp_report_json(const struct mp_pipeline *pl, FILE *f)
{
	struct mp_totals t;
	mp_totals(pl, &t);
	fprintf(f, "{\"totals\": {\"rx\": %" PRIu64 ", \"injected\": %" PRIu64 ", \"tx\": %" PRIu64 ", \"drops\": {",
	        t.rx, t.injected, t.tx);
	for (unsigned i = 0; i < t.n_drops; i++) {
		fprintf(f, "%s", i ? ", " : "");
		json_str(f, t.drop[i].name);
		fprintf(f, ": %" PRIu64, t.drop[i].n);
	}
	fprintf(f, "}, \"drops_total\": %" PRIu64 ", \"port_missed\": %" PRIu64 "},\n \"stages\": [", t.drops,
	        t.port_missed);
	int first = 1;
	for (int s = 0; s < MP_ST_N; s++)
		for (unsigned i = 0; i < pl->n_inst[s]; i++) {
			const struct mp_stage_inst *si = pl->inst[s][i];
			fprintf(f,
			        "%s\n  {\"stage\": \"%s\", \"instance\": %u, \"lcore\": %u, \"in\": %" PRIu64
			        ", \"out\": %" PRIu64 ", \"cycles_per_pkt\": %.1f, \"busy_pct\": %.1f",
			        first ? "" : ",", mp_stage_names[s], i, si->lcore, mp_ctr_get(si, MP_CC_IN),
			        mp_ctr_get(si, MP_CC_OUT), cycles_per_pkt(si), busy_pct(si));
			first = 0;
			fprintf(f, ", \"drops\": {");
			int fd = 1;
			for (unsigned k = 0; k < n_ctrs(si); k++)
				if (ctr_desc(si, k)->kind == MP_CK_DROP) {
					fprintf(f, "%s\"%s\": %" PRIu64, fd ? "" : ", ", ctr_desc(si, k)->name,
					        mp_ctr_get(si, k));
					fd = 0;
				}
			fprintf(f, "}, \"counters\": {");
			fd = 1;
			for (unsigned k = 0; k < n_ctrs(si); k++)
				if (ctr_desc(si, k)->kind != MP_CK_DROP) {
					fprintf(f, "%s\"%s\": %" PRIu64, fd ? "" : ", ", ctr_desc(si, k)->name,
					        mp_ctr_get(si, k));
					fd = 0;
				}
			fprintf(f, "}, \"rings_in_fill\": [");
			for (unsigned k = 0; k < si->n_in; k++)
				fprintf(f, "%s%u", k ? ", " : "", rte_ring_count(si->in[k]));
			fprintf(f, "]");
			if (si->n_fb_in) {
				/* Handed back, not yet taken: after the end of input,
				 * what tcpsm's fini takes (runtime/README.md). */
				fprintf(f, ", \"rings_fb_fill\": [");
				for (unsigned k = 0; k < si->n_fb_in; k++)
					fprintf(f, "%s%u", k ? ", " : "", rte_ring_count(si->fb_in[k]));
				fprintf(f, "]");
			}
			if (si->type->report_json)
				si->type->report_json(si, f);
			fprintf(f, "}");
		}
	fprintf(f, "\n ]}\n");
	return ferror(f) ? -EIO : 0;
}

/* ---- telemetry ------------------------------------------------------------ */

/* The telemetry thread calls these while the pipeline runs, and may call
 * one while the pipeline is being destroyed: tel_lock keeps tel_pl alive for
 * the length of a callback (mp_report_telemetry_unregister waits for it). */
static struct mp_pipeline *tel_pl;
static pthread_mutex_t tel_lock = PTHREAD_MUTEX_INITIALIZER;

static int tel_counters_locked(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	struct mp_totals t;
	if (!tel_pl)
		return -ENODEV;
	mp_totals(tel_pl, &t);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "rx", t.rx);
	rte_tel_data_add_dict_u64(d, "injected", t.injected);
	rte_tel_data_add_dict_u64(d, "tx", t.tx);
	rte_tel_data_add_dict_u64(d, "drops", t.drops);
	rte_tel_data_add_dict_u64(d, "port_missed", t.port_missed);
	for (unsigned i = 0; i < t.n_drops; i++) {
		char key[RTE_TEL_MAX_STRING_LEN];
		snprintf(key, sizeof(key), "drop.%s", t.drop[i].name);
		rte_tel_data_add_dict_u64(d, key, t.drop[i].n);
	}
	return 0;
}

/* /mospipe/stage,NAME.I: one instance's counters. */
static int tel_stage_locked(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	char name[32];
	unsigned idx = 0;
	if (!tel_pl || !params || sscanf(params, "%31[a-z].%u", name, &idx) < 1)
		return -EINVAL;
	int s = mp_stage_by_name(name);
	if (s < 0 || idx >= tel_pl->n_inst[s])
		return -EINVAL;
	const struct mp_stage_inst *si = tel_pl->inst[s][idx];
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "lcore", si->lcore);
	for (unsigned k = 0; k < n_ctrs(si); k++)
		rte_tel_data_add_dict_u64(d, ctr_desc(si, k)->name, mp_ctr_get(si, k));
	rte_tel_data_add_dict_u64(d, "cycles_per_pkt_x10", (uint64_t)(cycles_per_pkt(si) * 10));
	return 0;
}

static int tel_list_locked(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	if (!tel_pl)
		return -ENODEV;
	rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
	for (int s = 0; s < MP_ST_N; s++)
		for (unsigned i = 0; i < tel_pl->n_inst[s]; i++) {
			char n[RTE_TEL_MAX_STRING_LEN];
			snprintf(n, sizeof(n), "%s.%u", mp_stage_names[s], i);
			rte_tel_data_add_array_string(d, n);
		}
	return 0;
}

#define TEL_LOCKED(fn)                                                                                                 \
	static int fn(const char *cmd, const char *params, struct rte_tel_data *d)                                     \
	{                                                                                                              \
		pthread_mutex_lock(&tel_lock);                                                                         \
		int r = fn##_locked(cmd, params, d);                                                                   \
		pthread_mutex_unlock(&tel_lock);                                                                       \
		return r;                                                                                              \
	}
TEL_LOCKED(tel_counters)
TEL_LOCKED(tel_stage)
TEL_LOCKED(tel_list)

void mp_report_telemetry_unregister(struct mp_pipeline *pl)
{
	pthread_mutex_lock(&tel_lock);
	if (tel_pl == pl)
		tel_pl = NULL;
	pthread_mutex_unlock(&tel_lock);
}

void mp_report_telemetry_register(struct mp_pipeline *pl)
{
	pthread_mutex_lock(&tel_lock);
	tel_pl = pl;
	pthread_mutex_unlock(&tel_lock);
	if (!pl->conf->telemetry)
		return;
	static const struct {
		const char *cmd;
		telemetry_cb fn;
		const char *help;
	} cmds[] = {
	    {"/mospipe/counters", tel_counters,
	     "Pipeline totals: rx, injected, tx, drops by reason, port_missed. No parameters"},
	    {"/mospipe/stages", tel_list, "Stage instances. No parameters"},
	    {"/mospipe/stage", tel_stage, "One stage instance's counters. Parameter: NAME.I, e.g. tcpsm.0"},
	};
	for (unsigned i = 0; i < RTE_DIM(cmds); i++) {
		int r = rte_telemetry_register_cmd(cmds[i].cmd, cmds[i].fn, cmds[i].help);
		if (r < 0)
			fprintf(stderr,
			        "mospipe: telemetry command %s not served: %s (the run goes on; [pipeline] telemetry = "
			        "no turns telemetry off)\n",
			        cmds[i].cmd, strerror(-r));
	}
}

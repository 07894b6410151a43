/* Test of mospipe_pkt_reassembled() (include/mospipe_ext.h, section
 * "firewall"), written against the public API like the firewall itself.
 *
 *   ext_test PCAP
 *
 * Before mtcp_init and with a NULL context: -1/EACCES; at setup (not in a
 * callback): -1/EPERM. In MOS_ON_ORPHAN and MOS_ON_PKT_IN callbacks: 0 or 1,
 * never an error; in MOS_ON_CONN_END callbacks that carry no packet (flows
 * still open when the capture ends): -1/ENODATA, exactly when
 * mtcp_getlastpkt() says ENODATA too. Prints
 *   ext_test: reassembled=N received=N nodata=N errors=N
 * and exits 0 when every call answered as documented, 1 otherwise. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mos_api.h"
#include "mospipe_ext.h"
#include "mtcp_api.h"

static unsigned long reasm, received, nodata, errors;

static void on_any(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	struct pkt_info p;
	(void)arg;
	int r = mospipe_pkt_reassembled(m);
	int e = errno;
	int have = mtcp_getlastpkt(m, sock, side, &p) == 0;
	if (r == 1 && have)
		reasm++;
	else if (r == 0 && have)
		received++;
	else if (r == -1 && e == ENODATA && !have && errno == ENODATA && ev == MOS_ON_CONN_END)
		nodata++;
	else {
		errors++;
		fprintf(stderr, "ext_test: event %#llx: %d errno %s, getlastpkt %s\n", (unsigned long long)ev, r,
		        strerror(e), have ? "ok" : strerror(errno));
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: ext_test PCAP\n");
		return 2;
	}
	char in[4096];
	snprintf(in, sizeof(in), "pcap:%s", argv[1]);
	setenv("MOSPIPE_INPUT", in, 1);
	setenv("MOSPIPE_SET", "pipeline.telemetry=no;tcp.flows=4096;tcp.buf_size=0", 1);
	errno = 0;
	if (mospipe_pkt_reassembled(NULL) != -1 || errno != EACCES)
		errors++, fprintf(stderr, "ext_test: before init: not -1/EACCES\n");
	if (mtcp_init(NULL) < 0) {
		perror("ext_test: mtcp_init");
		return 1;
	}
	mctx_t m = mtcp_create_context(0);
	int s = m ? mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0) : -1;
	if (s < 0 || mtcp_register_callback(m, s, MOS_ON_ORPHAN, MOS_NULL, on_any) < 0 ||
	    mtcp_register_callback(m, s, MOS_ON_PKT_IN, MOS_HK_SND, on_any) < 0 ||
	    mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_HK_SND, on_any) < 0) {
		perror("ext_test: setup");
		return 1;
	}
	errno = 0;
	if (mospipe_pkt_reassembled(m) != -1 || errno != EPERM)
		errors++, fprintf(stderr, "ext_test: at setup: not -1/EPERM\n");
	errno = 0;
	if (mospipe_pkt_reassembled(NULL) != -1 || errno != EACCES)
		errors++, fprintf(stderr, "ext_test: NULL context: not -1/EACCES\n");
	mtcp_app_join(m);
	mtcp_destroy();
	printf("ext_test: reassembled=%lu received=%lu nodata=%lu errors=%lu\n", reasm, received, nodata, errors);
	return errors != 0;
}

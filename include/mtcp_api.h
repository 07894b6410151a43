/* mtcp_api.h — the context, configuration and socket half of the mOS API, as
 * mospipe offers it (the other half, events and monitoring, is mos_api.h).
 *
 * Names, types, values and signatures follow mOS (KAIST, NSDI'17) so that mOS
 * monitoring applications build unchanged. What is gone on purpose is the
 * end-host TCP stack of mTCP (connect/accept/read/write/epoll): mospipe is a
 * middlebox stack only (DESIGN.md §7). The socket type values of those sockets
 * are kept so that numbers do not move, but mtcp_socket() refuses them.
 *
 * Error convention (as in mOS): functions return -1 (or NULL) and set errno.
 * Every errno value a function may set is listed in its comment.
 *
 * This header needs only the C library: it never pulls in DPDK headers, so an
 * application builds with any compiler flags it likes (C99 and later).
 */
#ifndef MTCP_API_H
#define MTCP_API_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef UNUSED
#define UNUSED(x) (void)(x)
#endif

#ifndef INPORT_ANY
#define INPORT_ANY (uint16_t)0
#endif

/* mOS calls raw bytes "byte" in mtcp_setlastpkt(). */
typedef unsigned char byte;

/* One mOS context per core that runs application code. In mospipe a context
 * stands for one instance of the app stage; `cpu` is the index given to
 * mtcp_create_context(), which is also the lcore running that instance. */
struct mtcp_context {
	int cpu;
};
typedef struct mtcp_context *mctx_t;

/* Signal handler type of mtcp_register_signal(). */
typedef void (*mtcp_sighandler_t)(int);

/* Socket types. The values are mOS's. Only the three monitoring types exist in
 * mospipe; the others are listed so that the numbering matches mOS. */
enum socket_type {
	MOS_SOCK_UNUSED = 0,
	MOS_SOCK_STREAM_LISTEN = 1, /* end-host listener: not supported */
	MOS_SOCK_PROXY_LISTEN = 2,  /* not supported */
	/* Passive monitoring socket: what it registers applies to every flow it
	 * sees from then on (the flows are its "active" sockets). */
	MOS_SOCK_MONITOR_STREAM = 3,
	MOS_SOCK_STREAM = 4, /* end-host stream: not supported */
	MOS_SOCK_PROXY = 5,  /* not supported */
	/* Active monitoring socket: one flow. Never created by the application;
	 * it is the `sock` argument that callbacks receive. What it registers
	 * applies to this flow only. */
	MOS_SOCK_MONITOR_STREAM_ACTIVE = 6,
	/* Raw (stateless) monitoring socket: every packet that passes its BPF
	 * filter, TCP or not, at the MOS_NULL hook. */
	MOS_SOCK_MONITOR_RAW = 7,
	MOS_SOCK_EPOLL = 8, /* not supported */
	MOS_SOCK_PIPE = 9,  /* not supported */
};

/* Configuration, read with mtcp_getconf() and changed with mtcp_setconf()
 * between mtcp_init() and the first mtcp_create_context() (which builds the
 * pipeline, so every field below with a pipeline.conf key applies). Same
 * fields as mOS. In mospipe they map onto pipeline.conf:
 *   num_cores        number of app-stage instances the application runs on
 *   max_concurrency  flows per tcpsm instance ([tcp] flows)
 *   cpu_mask         lcores of the app instances (bit i = lcore i; read-only:
 *                    the lcores are fixed by mtcp_init)
 *   max_num_buffers  reassembly buffers of rcvbuf_size ([tcp] buf_pool =
 *                    max_num_buffers * buf_size bytes)
 *   rcvbuf_size      reassembly buffer size per side ([tcp] buf_size)
 *   sndbuf_size      unused (no end-host stack)
 *   tcp_timewait     TIME_WAIT length in seconds ([tcp] time_wait_ms)
 *   tcp_timeout      idle timeout in seconds, -1 = never ([tcp] idle_timeout_ms)
 *   app_*, num_app   kept for source compatibility; mospipe runs one
 *                    application per process and ignores them. */
struct mtcp_conf {
#define APP_NAME_LEN 40
#define MOS_APP 20
	int num_cores;
	int max_concurrency;
	uint64_t cpu_mask;

	int max_num_buffers;
	int rcvbuf_size;
	int sndbuf_size;

	int tcp_timewait;
	int tcp_timeout;

#define MOS_APP_ARGC 20
	uint64_t app_cpu_mask[MOS_APP];
	char *app_argv[MOS_APP][MOS_APP_ARGC];
	int app_argc[MOS_APP];
	int num_app;
};

/**
 * Initialise the stack from a configuration file: parses it (a mospipe
 * pipeline.conf, or mOS's own mos.conf with its "mos { ... }" block: keys
 * with a meaning here are mapped — forward, max_concurrency, rmem_size,
 * no_ring_buffers, tcp_timeout, tcp_tw_interval — and every other key or
 * block is named in one warning on stderr; NULL or a missing [section]
 * means defaults) and initialises DPDK's EAL. The ports, pools and pipeline
 * are made by the first mtcp_create_context(), after any mtcp_setconf().
 * Call once, before anything else.
 *
 * @param config_file
 *   Path of the configuration file, or NULL for all defaults.
 * @return
 *   0 on success, -1 on error with errno set:
 *   - ENOENT: the file does not exist (a message names it on stderr).
 *   - EINVAL: the file has an error; a message names file, line and key.
 *   - EALREADY: mtcp_init() already succeeded.
 *   - ENODEV: a configured port does not exist.
 */
int mtcp_init(const char *config_file);

/**
 * Stop the pipeline and free everything mtcp_init() set up. Stages stop in
 * pipeline order (rx first; each later stage drains what it holds), so every
 * flow gets its MOS_ON_CONN_END before the contexts go away. Call once, after
 * every mtcp_app_join() returned.
 *
 * @return
 *   0 on success, -1 with errno set:
 *   - EPERM: mtcp_init() did not succeed.
 *   - EBUSY: a context is still running (not destroyed, not joined).
 */
int mtcp_destroy(void);

/**
 * Copy the current configuration into *conf.
 *
 * @param conf
 *   Filled on success.
 * @return
 *   0 on success, -1 with errno set:
 *   - EINVAL: conf is NULL.
 *   - EPERM: mtcp_init() did not succeed.
 */
int mtcp_getconf(struct mtcp_conf *conf);

/**
 * Change the configuration (typically num_cores after mtcp_getconf()). Only
 * allowed between mtcp_init() and the first mtcp_create_context(). Every
 * field with a pipeline.conf key applies (struct mtcp_conf); a changed
 * cpu_mask, sndbuf_size or num_app is named on stderr and ignored.
 *
 * @param conf
 *   The new values.
 * @return
 *   0 on success, -1 with errno set:
 *   - EINVAL: conf is NULL or a value is out of range (num_cores < 1 or more
 *     than the app instances, max_concurrency < 1, rcvbuf_size < 0 or above
 *     64 MiB, max_num_buffers < 0, tcp_timewait outside 0..3600).
 *     tcp_timeout <= 0 means never (mOS: -1), i.e. 24 hours.
 *   - EPERM: mtcp_init() did not succeed.
 *   - EBUSY: a context was already created.
 */
int mtcp_setconf(const struct mtcp_conf *conf);

/**
 * Create the context of one app-stage instance; the first call builds the
 * pipeline (ports, pools, stage instances) from the configuration. Like mOS, the caller then registers its sockets and callbacks on
 * the context and finally calls mtcp_app_join(). Do not create two contexts
 * for the same cpu.
 *
 * @param cpu
 *   Index of the app instance, 0 .. num_cores - 1.
 * @return
 *   The context, or NULL with errno set:
 *   - EINVAL: cpu out of range.
 *   - EEXIST: a context for cpu already exists.
 *   - EPERM: mtcp_init() did not succeed.
 *   - ENOMEM: out of memory (pools, rings or tables: a message names the
 *     pipeline.conf key that sizes them).
 *   - ENODEV: a configured port does not exist.
 */
mctx_t mtcp_create_context(int cpu);

/**
 * Ask a context to stop: its app instance finishes the packets it holds and
 * its mtcp_app_join() returns. Safe to call from a signal handler registered
 * with mtcp_register_signal(). The context's memory is released by
 * mtcp_destroy().
 *
 * @param mctx
 *   A context from mtcp_create_context().
 * @return
 *   0 on success, -1 with errno set:
 *   - EINVAL: mctx is NULL or not a live context.
 */
int mtcp_destroy_context(mctx_t mctx);

/**
 * Install a handler for a signal (typically SIGINT to call
 * mtcp_destroy_context() on every context). mospipe's own handler runs first
 * and stops the pipeline cleanly; then it calls handler.
 *
 * @param signum
 *   Signal number.
 * @param handler
 *   Function to call, or NULL to only stop the pipeline.
 * @return
 *   The handler given (as mOS does), or SIG_ERR cast to mtcp_sighandler_t
 *   with errno = EINVAL when signum cannot be caught.
 */
mtcp_sighandler_t mtcp_register_signal(int signum, mtcp_sighandler_t handler);

/**
 * Create a monitoring socket in a context. Call before mtcp_app_join(), from
 * the thread that created the context, or from a callback of that context.
 * From a callback: bind its filter and register its callbacks in the same
 * callback; the socket takes part once that callback's packet has been
 * handled (it follows flows whose first packet comes after), and its
 * registrations are those of the app instance that ran the callback.
 *
 * @param mctx
 *   The context.
 * @param domain
 *   AF_INET (ignored, as in mOS: IPv4 and IPv6 are both monitored).
 * @param type
 *   MOS_SOCK_MONITOR_STREAM or MOS_SOCK_MONITOR_RAW.
 * @param protocol
 *   0 (ignored).
 * @return
 *   A socket id >= 0, or -1 with errno set:
 *   - EINVAL: mctx is not a live context.
 *   - EPROTONOSUPPORT: type is an end-host or proxy type, or unknown.
 *   - ENFILE: the context has [api] sockets sockets already (pipeline.conf).
 *   - EPERM: another thread, after mtcp_app_join().
 */
int mtcp_socket(mctx_t mctx, int domain, int type, int protocol);

/**
 * Close a socket. On a passive MOS_SOCK_MONITOR_STREAM socket: no new flows
 * are given to it, and the flows it already follows are released after their
 * next packet. On a MOS_SOCK_MONITOR_STREAM_ACTIVE socket (inside a
 * callback): this application stops following the flow (as MOS_STOP_MON with
 * MOS_SIDE_BOTH) and gets no more events for it, not even MOS_ON_CONN_END.
 * On a raw socket: no more packets are delivered.
 *
 * @param mctx
 *   The context the socket belongs to.
 * @param sock
 *   The socket.
 * @return
 *   0 on success, -1 with errno set:
 *   - EINVAL: mctx is not a live context.
 *   - EBADF: sock is not an open socket of mctx.
 */
int mtcp_close(mctx_t mctx, int sock);

/**
 * Read a monitoring option (level SOL_MONSOCKET, see mos_api.h) of a socket.
 * What the options report is the state at the event being handled (mospipe
 * keeps snapshots in the packet's metadata), even if the flow has moved on.
 *
 *   MOS_TCP_STATE_CLI / MOS_TCP_STATE_SVR  int: that side's enum tcpstate.
 *   MOS_INFO_CLIBUF / MOS_INFO_SVRBUF      struct tcp_buf_info.
 *   MOS_FRAGINFO_CLIBUF / _SVRBUF          array of struct tcp_ring_fragment;
 *                                          *optlen in: array size in bytes,
 *                                          out: bytes used. The window's
 *                                          in-order run(s) from its start
 *                                          (as mOS lists its buffer from its
 *                                          head), then each out-of-order run
 *                                          held, by offset; the lowest ones
 *                                          when the array is too small (at
 *                                          most 64 per call). As of the
 *                                          event, like MOS_INFO_*.
 *   MOS_TIMESTAMP                          uint32_t: time of the flow's last
 *                                          packet, microseconds (packet time).
 *   MOS_CLIBUF / MOS_SVRBUF                int: the side's buffer size (0 =
 *                                          buffering off).
 *   MOS_CLIOVERLAP / MOS_SVROVERLAP        int: MOS_OVERLAP_POLICY_*.
 *   MOS_CLIPOLICY / MOS_SVRPOLICY          int: enum mos_tcp_policy the side
 *                                          is modelled on as a receiver
 *                                          (mospipe; active sockets).
 *   MOS_ERROR_REASON                       int: enum mos_error_reason of the
 *                                          packet of a MOS_ON_ERROR
 *                                          (mospipe; active sockets).
 *
 * Valid on MOS_SOCK_MONITOR_STREAM_ACTIVE sockets (in callbacks); the
 * buffer-size and overlap options also on a passive socket, where they read
 * the value new flows get.
 *
 * @param mctx
 *   The context.
 * @param sock
 *   The socket.
 * @param level
 *   SOL_MONSOCKET.
 * @param optname
 *   One of the options above.
 * @param optval
 *   Where the value is written.
 * @param optlen
 *   In: the room at optval; out: the bytes written.
 * @return
 *   0 on success, -1 with errno set:
 *   - EINVAL: mctx not live, optval/optlen NULL, or *optlen too small.
 *   - EBADF: sock is not an open socket of mctx.
 *   - ENOPROTOOPT: level is not SOL_MONSOCKET, or optname unknown or not
 *     valid on this type of socket.
 *   - ENODATA: the side's buffer is disabled (INFO/FRAGINFO options).
 */
int mtcp_getsockopt(mctx_t mctx, int sock, int level, int optname, void *optval, socklen_t *optlen);

/**
 * Change a monitoring option (level SOL_MONSOCKET) of a socket.
 *
 *   MOS_CLIBUF / MOS_SVRBUF          int: reassembly buffer size of that
 *                                    side, 0 disables buffering (and peeking).
 *   MOS_CLIOVERLAP / MOS_SVROVERLAP  int: MOS_OVERLAP_POLICY_FIRST (keep the
 *                                    first copy of overlapping bytes) or
 *                                    MOS_OVERLAP_POLICY_LAST (take the last),
 *                                    or (mospipe) MOS_OVERLAP_POLICY_TARGET
 *                                    (as the receiver's stack does).
 *   MOS_CLIPOLICY / MOS_SVRPOLICY    int: enum mos_tcp_policy: the stack that
 *                                    side is modelled on as a receiver, for
 *                                    this flow (mospipe; active sockets; per
 *                                    network: pipeline.conf's [policy]).
 *   MOS_STOP_MON                     int: MOS_SIDE_CLI, MOS_SIDE_SVR or
 *                                    MOS_SIDE_BOTH: stop tracking that side
 *                                    of the flow (active sockets only).
 *                                    MOS_SIDE_BOTH works in mospipe (it did
 *                                    not in mOS).
 *
 * On a passive socket the value applies to flows created from then on. On an
 * active socket (from a callback) mospipe differs from mOS in timing: the
 * option reaches tcpsm through the flow's control word and applies from the
 * next packet tcpsm processes for the flow, which may be a few packets after
 * the one being handled (the pipeline runs ahead of the app stage). Buffer
 * resizing works (it did not in mOS): shrinking keeps the bytes not yet read
 * as long as they fit, the others are reported as missed by the next
 * mtcp_peek().
 *
 * @param mctx
 *   The context.
 * @param sock
 *   The socket.
 * @param level
 *   SOL_MONSOCKET.
 * @param optname
 *   One of the options above.
 * @param optval
 *   The value.
 * @param optlen
 *   sizeof(int).
 * @return
 *   0 on success, -1 with errno set:
 *   - EINVAL: mctx not live, optval NULL, optlen wrong, or value out of range
 *     (negative or above the configured maximum buffer size, unknown policy
 *     or side).
 *   - EBADF: sock is not an open socket of mctx.
 *   - ENOPROTOOPT: level is not SOL_MONSOCKET, optname unknown or read-only,
 *     or not valid on this type of socket.
 *   - ENOMEM: a bigger buffer could not be obtained from the buffer pool.
 */
int mtcp_setsockopt(mctx_t mctx, int sock, int level, int optname, const void *optval, socklen_t optlen);

#ifdef __cplusplus
}
#endif

#endif /* MTCP_API_H */

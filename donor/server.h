/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * server - the donor's listeners. Each serves the protocol of
 * rdma/proto.h on its transport to the shared core (donor/session.h):
 * tcp_server.c, and rdma_server.c (built when the RDMA backend is) for
 * the verbs data path. Both only move bytes: the requests are handled by
 * donor/serve.h. main() walks the table donor_listeners[], starting them
 * after the core and stopping them before destroying it.
 *
 * Threading: start and stop from the main thread; each listener runs its
 * own threads in between. stop() joins all of them.
 */
#ifndef CNM_DONOR_SERVER_H
#define CNM_DONOR_SERVER_H

#include "donor/session.h"
#include "rdma/auth.h"

#include <stdint.h>

struct donor_server;

struct donor_server_cfg {
	const char *host; /* borrowed for start() only */
	const char *port;
	const struct auth_keyring *kr; /* borrowed until stop(); empty:
					 * keyless (--insecure) */
	uint32_t caps;		    /* initial PROTO_CAP_*; see donor_caps() */
	unsigned int hs_timeout_ms; /* handshake; 0 = 10 s */
	unsigned int max_conns; /* sockets, authenticated or not; 0 = 1024 */
	/* connections still authenticating (sshd MaxStartups); when full,
	 * the oldest is dropped for the newcomer; 0 = 10 */
	unsigned int max_startups;
	unsigned int threads; /* TCP event loops; 0 = one per CPU */
};

/*
 * A listener: started with the core's donor and the settings, stopped
 * before the core is destroyed. start() gives 0 with *out and the bound
 * port set, or -errno (err says why); stop(NULL) is a no-op and stop()
 * closes the listener and every connection and joins all threads.
 */
struct donor_listener {
	const char *name; /* "tcp", "rdma": the --transport value */
	uint32_t caps;	  /* PROTO_CAP_* it adds to what the donor serves */
	int optional;	  /* --transport auto goes on without it */
	int (*start)(struct donor *d, const struct donor_server_cfg *cfg,
		     struct donor_server **out, uint16_t *bound_port, char *err,
		     size_t errlen);
	void (*stop)(struct donor_server *s);
};

extern const struct donor_listener tcp_listener;  /* tcp_server.c */
extern const struct donor_listener rdma_listener; /* rdma_server.c */
/* The listeners this build has, in start order (tcp first: rdma takes the
 * port tcp bound), NULL-terminated (donor/listeners.c). */
extern const struct donor_listener *const donor_listeners[];

struct prom;
/* donor/metrics.c: the donor's metrics (arg: the struct donor) for
 * metrics_http_start() (common/metrics_http.h); 0 or -errno. */
int donor_metrics_render(struct prom *p, void *arg);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * server - the donor's listeners. Each serves the protocol of
 * rdma/proto.h on its transport to the shared core (donor/session.h):
 * tcp_server.c here, rdma_server.c (built when the RDMA backend is) for
 * the verbs data path. main() starts them after the core and stops them
 * before destroying it.
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
	const struct auth_key *key; /* borrowed until stop() */
	uint32_t caps;		    /* initial PROTO_CAP_*; see donor_caps() */
	unsigned int hs_timeout_ms; /* handshake; 0 = 10 s */
	unsigned int max_conns; /* sockets, authenticated or not; 0 = 1024 */
};

/* 0 with *out and the bound port set, or -errno (err says why). */
int tcp_server_start(struct donor *d, const struct donor_server_cfg *cfg,
		     struct donor_server **out, uint16_t *bound_port, char *err,
		     size_t errlen);
/* Closes the listener and every connection, joins all threads, frees. */
void tcp_server_stop(struct donor_server *s);

/* RDMA listener (donor/rdma_server.c), when built. */
int rdma_server_start(struct donor *d, const struct donor_server_cfg *cfg,
		      struct donor_server **out, uint16_t *bound_port,
		      char *err, size_t errlen);
/* NULL is a no-op, as for tcp_server_stop(). */
void rdma_server_stop(struct donor_server *s);

/*
 * 1 if every address host resolves to is a loopback address, 0 if not,
 * -errno (e.g. -ENOENT) when it does not resolve.
 */
int donor_addr_is_loopback(const char *host);

struct prom;
/* donor/metrics.c: the donor's metrics (arg: the struct donor) for
 * metrics_http_start() (common/metrics_http.h); 0 or -errno. */
int donor_metrics_render(struct prom *p, void *arg);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rdma_server - the donor's RDMA listener (librdmacm, verbs). Serves the
 * control protocol of rdma/proto.h on SEND/RECV (credits as in
 * rdma/verbs_wire.h) and lets each client reach its own slabs by one-sided
 * RDMA READ and WRITE: every connection gets its own protection domain,
 * and each slab the session holds is registered in that domain only, so a
 * key handed to one client opens nothing of another's. A slab's memory
 * region is deregistered before the slab is freed and zeroed.
 *
 * Threading: one thread per listener runs every connection (CM events,
 * completions, requests); rdma_server_start() and rdma_server_stop() from
 * the donor's main thread. The session_conn evict callback may run on any
 * thread: it only queues and wakes the listener.
 */
#ifndef CNM_DONOR_RDMA_SERVER_H
#define CNM_DONOR_RDMA_SERVER_H

#include "donor/session.h"
#include "rdma/auth.h"

#include <stdint.h>

struct rdma_server;

struct rdma_server_cfg {
	const char *addr;	    /* numeric address to bind; borrowed */
	const char *port;	    /* may be "0": see rdma_server_port() */
	const struct auth_key *key; /* copied; NULL or !set: no key */
	struct donor *donor;	    /* borrowed, outlives the server */
	uint32_t caps;		    /* PROTO_CAP_* announced (RDMA added) */
};

/*
 * Binds and listens, then serves on its own thread. 0, -ENODEV (no RDMA
 * device for addr), -EADDRINUSE, -ENOMEM or -errno.
 */
int rdma_server_start(const struct rdma_server_cfg *cfg,
		      struct rdma_server **out);
/* The bound port (host order). */
unsigned int rdma_server_port(const struct rdma_server *s);
/* Disconnects every client (detaching its session), stops, frees. */
void rdma_server_stop(struct rdma_server *s);

#endif

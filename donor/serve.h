/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * serve - the donor's request handler, written once for every listener.
 * A listener (donor/tcp_server.c, donor/rdma_server.c) only moves bytes:
 * it reads a message, checks its header for the connection's phase
 * (dmsg_check_hdr()), decodes the fixed body (dmsg_decode_body()) and
 * hands it to dconn_request(), which runs the handshake (HELLO, AUTH),
 * attaches the session only once AUTH proved the identity's key (and, for
 * an existing session, that it is the identity's and its secret), and
 * executes QUERY, ALLOC (within the identity's quota), FREE, HEARTBEAT
 * and RECLAIM (the operator's identity only) on the session core
 * (donor/session.h). What differs per transport are the ops below: how a
 * reply or an ERROR leaves, how READ/WRITE data moves (TCP: in the stream;
 * RDMA: one-sided, so READ/WRITE messages are refused), and the hooks
 * where RDMA registers a slab's memory region for the client and
 * deregisters it before the slab is freed. Refusals are logged here, the
 * same way for every transport (rate-limited, naming the peer).
 *
 * Threading: a struct dconn is used by one thread at a time (the
 * connection's thread, or the RDMA listener's thread); the ops run on that
 * thread. The core's own locking is donor/session.h's.
 */
#ifndef CNM_DONOR_SERVE_H
#define CNM_DONOR_SERVE_H

#include "donor/dmsg.h"
#include "donor/session.h"
#include "rdma/auth.h"
#include "rdma/handshake.h"
#include "rdma/proto.h"

#include <stdint.h>

struct dconn;

struct dconn_ops {
	/* Sends a reply to req: status 0 with body (wire order) or a
	 * positive errno without. 0 or -errno (then the core gives up). */
	int (*reply)(struct dconn *c, const struct proto_hdr *req,
		     uint32_t status, const void *body, uint32_t len);
	/* Sends ERROR(why) with status err (positive); the connection is
	 * closed by the caller afterwards. */
	void (*error)(struct dconn *c, uint64_t id, uint32_t err,
		      const char *why);
	/* READ or WRITE on this transport, reply included; NULL: such a
	 * message is a protocol violation (the data path is one-sided). */
	int (*io)(struct dconn *c, const struct proto_hdr *h,
		  const struct wire_io *io);
	/* A slab was given to the client: make it reachable (RDMA
	 * registration), filling ws->rkey and ws->addr; NULL: ws->addr is
	 * cleared. 0 or -errno (the slab is then freed and ENOMEM sent). */
	int (*slab_add)(struct dconn *c, void *addr, struct wire_slab *ws);
	/* Before the client's FREE frees a slab: no remote access after. */
	void (*slab_del)(struct dconn *c, uint32_t slab);
	/* After AUTH succeeded and the session attached: 0 to have the
	 * core send the AUTH reply now, 1 when the transport sends it later
	 * itself (RDMA: after the slab refreshes), or -errno. */
	int (*authenticated)(struct dconn *c, const struct proto_hdr *h);
};

struct dconn {
	struct session_conn sc; /* first: session callbacks cast back */
	const struct dconn_ops *ops;
	struct donor *d;
	uint32_t caps;	  /* added to donor_caps() (CAP_RDMA) */
	const char *kind; /* "client", "rdma client": for logs */
	enum dmsg_phase phase;
	struct hs_donor hs; /* this handshake; hs.ident: who, once proved */
	int resume;	    /* HELLO found the session */
	const struct auth_ident *owner;	  /* resume: the session's owner */
	uint8_t old_secret[AUTH_KEY_LEN]; /* resume: the session's secret */
	struct session *s;		  /* set from AUTH on */
};

/* Fills c for a fresh connection (phase HELLO); sc.evict and sc.peer are
 * the transport's to set. */
void dconn_init(struct dconn *c, const struct dconn_ops *ops, struct donor *d,
		const struct auth_keyring *kr, uint32_t caps, const char *kind);
/*
 * Executes one checked and decoded request (h, b) in the connection's
 * phase, reply included. 0 to go on; -errno when the connection must
 * close (the reason has been logged and, where the protocol has one,
 * answered).
 */
int dconn_request(struct dconn *c, const struct proto_hdr *h,
		  const union dmsg_body *b);
/* A broken stream: logs one warning naming the peer, sends ERROR. */
void dconn_fail(struct dconn *c, uint64_t id, int err, const char *why);
/* Logs (rate-limited) a refused READ/WRITE; the transport replies. */
void dconn_io_refused(struct dconn *c, const struct proto_hdr *h,
		      const struct wire_io *io, int err);
/* Detaches the session, if any. The transport calls it once, at close. */
void dconn_close(struct dconn *c);

#endif

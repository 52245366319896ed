/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dclient - the blocking donor client: connect to a donor, run the
 * handshake (rdma/handshake.h), then one request and its reply at a time.
 * cnetmemctl's donor commands (ctl/ctl_donor.c) and the donor's
 * integration test client (tests/integration/donor/cnm_testclient.c) use
 * it; the mount's transports pipeline and do not (rdma/xport.h).
 *
 * Errors are 0 or -errno. A reply's status becomes -status
 * (proto_status_errno()) and leaves c->err empty: the caller knows what a
 * refusal means. Any other failure (a donor ERROR message, a refused
 * connection, a timeout, an unexpected reply) says why in c->err, which
 * never names the donor: the caller does.
 *
 * Threading: a struct dcl belongs to one thread at a time; every call
 * blocks (poll) up to c->timeout_ms. Ownership: the caller owns the
 * struct; dcl_close() closes the socket.
 */
#ifndef CNM_RDMA_DCLIENT_H
#define CNM_RDMA_DCLIENT_H

#include "rdma/handshake.h"
#include "rdma/proto.h"

#include <stddef.h>
#include <stdint.h>

/* A request and its body staged in one send: a real client batches. */
#define DCL_STAGE_MAX 8192

struct dcl {
	int fd;			 /* -1: not connected */
	uint64_t next_id;	 /* id of the last request sent */
	unsigned int timeout_ms; /* each call's bound; 0: the handshake's
				  * default, set by dcl_open() */
	struct hs_result hs;	 /* what the handshake granted */
	uint32_t evicts;	 /* EVICTs skipped while awaiting a reply */
	char err[PROTO_ERRTEXT_MAX + 64]; /* why the last call failed */
};

/*
 * Only connects (no handshake) to host:port, every address getaddrinfo
 * gives in order, with TCP_NODELAY: c->fd. 0 or -errno (c->err says why).
 */
int dcl_connect(struct dcl *c, const char *host, const char *port);
/*
 * Connects to host:port (every address getaddrinfo gives, in order) and
 * runs the handshake with p, bounded by c->timeout_ms (set it before;
 * 0: HS_TIMEOUT_MS_DEFAULT). The rest of c is filled. 0 or -errno; on
 * error c->fd is -1.
 */
int dcl_open(struct dcl *c, const char *host, const char *port,
	     const struct hs_params *p);
/* Closes the connection (no-op when closed). */
void dcl_close(struct dcl *c);
/*
 * Sends request op with body (len bytes) followed by data (dlen bytes),
 * waits for its reply, skipping unsolicited EVICTs, and copies the
 * reply's body (at most outmax bytes, else -EMSGSIZE and the stream is
 * unusable) to out; *outlen (may be NULL) gets its length. 0, -status of
 * the reply or of a donor ERROR message, -EPROTO for a reply that is not
 * to op, or a transport error.
 */
int dcl_call(struct dcl *c, uint16_t op, const void *body, uint32_t len,
	     const void *data, uint32_t dlen, void *out, uint32_t outmax,
	     uint32_t *outlen);

#endif

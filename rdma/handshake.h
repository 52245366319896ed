/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * handshake - the HELLO/AUTH exchange of rdma/proto.h, both sides.
 *
 * hs_client() runs the whole client side over a connected blocking stream
 * socket (the TCP transport, cnetmemctl, tests). The pure helpers below it
 * build and check the individual messages so that a transport that moves
 * messages some other way (RDMA SEND/RECV) and the donor can reuse them.
 *
 * Key rules, enforced on both sides: a client holding a key refuses a donor
 * that cannot prove the same key (no CAP_AUTH or a bad proof); a donor
 * holding a key refuses a client without one. Without a key on either
 * side the proofs are all zero and the exchange still runs, so the message
 * sequence never depends on configuration.
 *
 * Errors (0 or -errno): -EACCES wrong or missing key (either direction),
 * -EPROTONOSUPPORT version, -EINVAL slab size refused, -ETIMEDOUT,
 * -ECONNRESET peer closed or reset, -EPROTO unexpected message (the text
 * of a donor ERROR message goes to err).
 *
 * Threading: pure functions and functions on caller-owned fds; any thread.
 * The fd helpers block (poll) up to their timeout.
 */
#ifndef CNM_RDMA_HANDSHAKE_H
#define CNM_RDMA_HANDSHAKE_H

#include "rdma/auth.h"
#include "rdma/proto.h"

#include <stddef.h>
#include <stdint.h>

#define HS_TIMEOUT_MS_DEFAULT 5000
#define HS_SLAB_MIN	      (1ull << 20)
#define HS_SLAB_MAX	      (1ull << 30)

struct hs_params {
	const struct auth_key *key; /* borrowed; NULL or !set: no key */
	uint64_t slab_size;	    /* wanted, see hs_slab_size_ok() */
	uint8_t session[PROTO_SESSION_LEN];
	uint32_t caps;		 /* PROTO_CAP_RDMA etc.; AUTH is added */
	unsigned int timeout_ms; /* whole handshake; 0 = default */
};

struct hs_result {
	uint64_t slab_size; /* granted */
	uint32_t caps;	    /* the donor's PROTO_CAP_* */
	uint32_t version;
};

/* Client side, the whole exchange on a connected socket fd. */
int hs_client(int fd, const struct hs_params *p, struct hs_result *out,
	      char *err, size_t errlen);

/* 1 if s is a power of two in [HS_SLAB_MIN, HS_SLAB_MAX]. */
int hs_slab_size_ok(uint64_t s);

/*
 * Client, step 1: fills `hello` (host order; proto_hello_swap() before
 * sending) with a fresh client nonce, which the caller keeps for step 2.
 */
void hs_hello_build(const struct hs_params *p, struct wire_hello *hello);
/*
 * Client, step 2: checks the donor's HELLO reply (header h, body `reply` in
 * host order, NULL when the reply has no body) against what we sent, and
 * builds our AUTH body into `auth`. Fills out.
 */
int hs_hello_reply_check(const struct hs_params *p,
			 const struct wire_hello *sent,
			 const struct proto_hdr *h,
			 const struct wire_hello *reply, struct wire_auth *auth,
			 struct hs_result *out, char *err, size_t errlen);

/*
 * Donor, step 1: checks a client HELLO (host order) and builds the reply
 * (host order) with a fresh donor nonce and the donor's proof. Returns 0
 * or the positive errno for the reply status: EPROTONOSUPPORT, EACCES (the
 * donor has a key and the client has none), EINVAL (slab size). Whether
 * the granted size fits the pool is the caller's business.
 */
int hs_donor_hello(const struct auth_key *key, uint32_t caps,
		   const struct wire_hello *in, struct wire_hello *reply);
/* Donor, step 2: 0 if the client's AUTH proves the key, else EACCES. */
int hs_donor_auth(const struct auth_key *key, const struct wire_hello *in,
		  const struct wire_hello *reply, const struct wire_auth *auth);

/*
 * Sends one message (header + body) on a stream fd; 0, -ETIMEDOUT,
 * -ECONNRESET or -errno. Never raises SIGPIPE.
 */
int hs_send_msg(int fd, const struct proto_hdr *h, const void *body,
		unsigned int timeout_ms);
/*
 * Receives one message: the header is decoded and checked
 * (proto_hdr_dec() errors), a body longer than bodymax is -EMSGSIZE
 * (the stream is then unusable). 0, -ETIMEDOUT, -ECONNRESET or -errno.
 */
int hs_recv_msg(int fd, struct proto_hdr *h, void *body, size_t bodymax,
		unsigned int timeout_ms);
/* Reads/writes exactly len bytes, polling up to timeout_ms in total. */
int hs_read_full(int fd, void *buf, size_t len, unsigned int timeout_ms);
int hs_write_full(int fd, const void *buf, size_t len, unsigned int timeout_ms);

#endif

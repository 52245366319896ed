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
 * that cannot prove it (no CAP_AUTH or a bad proof); a donor with
 * identities refuses a client without one, with an unknown name or a
 * wrong key. Keyless exchanges (--insecure on both sides) run the same
 * message sequence with all-zero proofs.
 *
 * Sessions: the client keeps a struct hs_session per session id. The
 * handshake that creates the session (the donor's reply lacks RESUME)
 * fills its secret; a later one (RESUME) proves it. The secret is stored
 * when AUTH is sent, so a reply lost on the way cannot strand the session.
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

/* A client's session secret, kept across reconnects (caller-owned). */
struct hs_session {
	uint8_t secret[AUTH_KEY_LEN];
	int have;
};

struct hs_params {
	const struct auth_key *key; /* borrowed; NULL or !set: no key */
	const char *name;	 /* identity; NULL: key->name, else "default" */
	struct hs_session *sess; /* updated; NULL: session used once */
	uint64_t slab_size;	 /* wanted, see hs_slab_size_ok() */
	uint8_t session[PROTO_SESSION_LEN];
	uint32_t caps;		 /* PROTO_CAP_RDMA etc.; AUTH is added */
	unsigned int timeout_ms; /* whole handshake; 0 = default */
};

struct hs_result {
	uint64_t slab_size; /* granted */
	uint32_t caps;	    /* the donor's PROTO_CAP_* */
	uint32_t version;
	int resumed; /* the session existed on the donor */
};

/* One client exchange in progress: what step 2 needs from step 1. */
struct hs_client {
	struct wire_hello sent; /* host order */
	uint8_t kx_sk[AUTH_KEY_LEN];
};

/* The donor's side of one exchange (host order). */
struct hs_donor {
	const struct auth_keyring *kr;	/* borrowed; NULL or empty: keyless */
	const struct auth_ident *ident; /* after hs_donor_hello(); NULL:
					 * keyless */
	struct wire_hello in, out;
	uint8_t kx_sk[AUTH_KEY_LEN];
	uint8_t transcript[AUTH_KEY_LEN];
	uint8_t secret[AUTH_KEY_LEN]; /* a new session's secret */
};

/* Client side, the whole exchange on a connected socket fd. */
int hs_client(int fd, const struct hs_params *p, struct hs_result *out,
	      char *err, size_t errlen);

/* 1 if s is a power of two in [HS_SLAB_MIN, HS_SLAB_MAX]. */
int hs_slab_size_ok(uint64_t s);

/*
 * Client, step 1: fills st->sent (host order; proto_hello_swap() a copy
 * before sending) with a fresh nonce and X25519 key pair.
 */
void hs_hello_build(const struct hs_params *p, struct hs_client *st);
/*
 * Client, step 2: checks the donor's HELLO reply (header h, body `reply` in
 * host order, NULL when the reply has no body) and builds our AUTH body
 * into `auth` (host order = wire order: bytes only). Stores a new
 * session's secret in p->sess. Fills out.
 */
int hs_hello_reply_check(const struct hs_params *p, struct hs_client *st,
			 const struct proto_hdr *h,
			 const struct wire_hello *reply, struct wire_auth *auth,
			 struct hs_result *out, char *err, size_t errlen);
/* Client, step 3: the AUTH reply's status as 0 or -errno, err says why. */
int hs_auth_reply_check(const struct proto_hdr *h, char *err, size_t errlen);

/*
 * Donor, step 1: checks a client HELLO (host order) against hd->kr and
 * builds hd->out (host order) with a fresh nonce, key pair and the
 * donor's proof; resume: the session exists here. Returns 0 or the
 * positive errno for the reply status: EPROTONOSUPPORT, EACCES (no key,
 * unknown identity, or a key the keyless donor cannot check), EINVAL
 * (slab size). Whether the size fits the pool is the caller's business.
 */
int hs_donor_hello(struct hs_donor *hd, uint32_t caps, int resume,
		   const struct wire_hello *in);
/*
 * Donor, step 2: 0 if the client's AUTH proves the identity's key and,
 * when resuming, the session's secret (old_secret), else EACCES. On 0,
 * hd->secret is the secret of a session this exchange creates.
 */
int hs_donor_auth(struct hs_donor *hd, const uint8_t *old_secret,
		  const struct wire_auth *auth);
/* Donor: only the key part of step 2 (0 or EACCES), to tell apart a wrong
 * key from a session that is not the identity's. */
int hs_donor_auth_key(const struct hs_donor *hd, const struct wire_auth *auth);
/* Wipes the exchange's secrets. */
void hs_donor_wipe(struct hs_donor *hd);

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

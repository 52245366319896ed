/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proto - the wire protocol between cnetmem clients and cnetmem-donor.
 *
 * Every message is a fixed 24-byte header followed by `len` bytes of body.
 * All integers are little-endian on the wire; structs here are the wire
 * layout (packed by construction, checked by _Static_assert) and are
 * converted with proto_*_enc/dec, which are the only code that touches the
 * byte order. A body is never longer than PROTO_MAX_BODY.
 *
 *   client                                     donor
 *     | HELLO(version, caps, slab_size, session,  |
 *     |       client_nonce, client_kx, name) ---> |  the name picks the
 *     |  <--------- HELLO reply(version, caps     |  client's key
 *     |       (+RESUME when the session exists),  |
 *     |       slab_size, donor_nonce, donor_kx,   |  status EPROTONOSUPPORT
 *     |       donor_proof)                        |  on a wrong version
 *     | AUTH(client_proof, resume_proof) -------> |  EACCES on a bad proof
 *     |  <--------------------- AUTH reply(0)     |  or another's session
 *     | QUERY / ALLOC / FREE / HEARTBEAT / READ / WRITE, pipelined by id
 *     |  <------------ replies, in any order, matched by id
 *     |  <------------ EVICT (donor-initiated, id 0; the client migrates
 *     |                the slab and then FREEs it)
 *     |  <------------ ERROR(text) then close, on a protocol violation
 *
 * Each side proves the key of the client's identity (`name`): HMAC-SHA256
 * (libsodium) over a hash of the whole exchange (session id, both nonces,
 * both X25519 public keys, the name, the donor's caps and slab size), with
 * a label per direction, so no proof can be replayed, reflected or moved
 * to another exchange (rdma/auth.h). Without a key on either side
 * (--insecure on both) the proofs are all zero and CAP_AUTH is clear.
 *
 * Sessions: the session id is chosen by the client and kept across
 * reconnects so a donor can hand a returning client its slabs again
 * (within the donor's grace period). It is not a bearer token: the
 * session is bound to the identity that created it, and the handshake
 * that created it also agreed on a session secret (X25519 between the two
 * ephemeral keys, hashed with the transcript) that never crosses the
 * wire. When the session exists, the donor says RESUME and AUTH must
 * carry resume_proof, an HMAC keyed with that secret over this exchange.
 * A session attaches only after AUTH.
 *
 * Reply status is 0 or a positive errno value. Replies to READ carry the
 * data as body; all other replies carry the struct named below.
 *
 * Threading: pure functions.
 */
#ifndef CNM_RDMA_PROTO_H
#define CNM_RDMA_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_MAGIC	  0x574d4e43u /* "CNMW" read as little-endian bytes */
#define PROTO_VERSION	  2
#define PROTO_MAX_BODY	  (4u << 20)	   /* hard limit on any message body */
#define PROTO_MAX_IO	  (PROTO_MAX_BODY) /* longest READ/WRITE */
#define PROTO_NONCE_LEN	  32
#define PROTO_PROOF_LEN	  32
#define PROTO_SESSION_LEN 16
#define PROTO_KX_LEN	  32 /* X25519 public key */
#define PROTO_NAME_LEN	  32 /* client identity, NUL-padded */
#define PROTO_ERRTEXT_MAX 200

enum proto_op {
	PROTO_OP_HELLO = 1,	/* body: wire_hello, both ways */
	PROTO_OP_AUTH = 2,	/* body: wire_auth; reply: empty */
	PROTO_OP_QUERY = 3,	/* body: empty; reply: wire_state */
	PROTO_OP_ALLOC = 4,	/* body: empty; reply: wire_slab */
	PROTO_OP_FREE = 5,	/* body: wire_slab_ref; reply: empty */
	PROTO_OP_HEARTBEAT = 6, /* body: empty; reply: empty */
	PROTO_OP_EVICT = 7,	/* donor->client, body: wire_evict, no reply */
	PROTO_OP_READ = 8,	/* body: wire_io; reply: the data */
	PROTO_OP_WRITE = 9,	/* body: wire_io + data; reply: empty */
	PROTO_OP_ERROR = 10,	/* donor->client, body: text, then close */
	PROTO_OP_RECLAIM = 11,	/* operator->donor: wire_reclaim; reply empty;
				 * EPERM unless the operator's identity */
	PROTO_OP_MAX
};

#define PROTO_F_REPLY 0x0001

/* Capability bits in wire_hello.caps. */
#define PROTO_CAP_AUTH 0x0001 /* the sender holds a key and proves it */
#define PROTO_CAP_RDMA 0x0002 /* the sender can do the verbs data path */
/* donor HELLO reply: the session exists; AUTH must prove its secret */
#define PROTO_CAP_RESUME 0x0004

struct wire_hdr {
	uint32_t magic;
	uint16_t op;
	uint16_t flags;
	uint64_t id;	 /* request id, echoed in the reply; 0 = unsolicited */
	uint32_t len;	 /* body bytes that follow */
	uint32_t status; /* replies: 0 or a positive errno */
};
_Static_assert(sizeof(struct wire_hdr) == 24, "wire_hdr layout");

struct wire_hello {
	uint32_t version;
	uint32_t caps;
	uint64_t slab_size; /* client: wanted; donor: granted */
	uint8_t session[PROTO_SESSION_LEN];
	uint8_t nonce[PROTO_NONCE_LEN];
	uint8_t proof[PROTO_PROOF_LEN]; /* donor reply: proof of the key */
	uint8_t kx[PROTO_KX_LEN];	/* the sender's ephemeral X25519 key */
	char name[PROTO_NAME_LEN];	/* client: identity; donor: zero */
};
_Static_assert(sizeof(struct wire_hello) == 160, "wire_hello layout");

struct wire_auth {
	uint8_t proof[PROTO_PROOF_LEN];
	uint8_t resume[PROTO_PROOF_LEN]; /* RESUME: proof of the secret */
};
_Static_assert(sizeof(struct wire_auth) == 64, "wire_auth layout");

struct wire_slab {
	uint32_t slab; /* donor-local slab id */
	uint32_t rkey; /* RDMA: memory region key for this client only */
	uint64_t size; /* bytes */
	uint64_t addr; /* RDMA: remote virtual address of the slab */
};
_Static_assert(sizeof(struct wire_slab) == 24, "wire_slab layout");

struct wire_slab_ref {
	uint32_t slab;
	uint32_t reserved;
};
_Static_assert(sizeof(struct wire_slab_ref) == 8, "wire_slab_ref layout");

struct wire_io {
	uint32_t slab;
	uint32_t len;
	uint64_t off; /* byte offset inside the slab */
};
_Static_assert(sizeof(struct wire_io) == 16, "wire_io layout");

struct wire_evict {
	uint32_t slab;
	uint32_t reserved;
	uint64_t deadline_ms; /* the donor reclaims forcibly after this */
};
_Static_assert(sizeof(struct wire_evict) == 16, "wire_evict layout");

struct wire_reclaim {
	uint64_t bytes; /* memory the donor should hand back */
};
_Static_assert(sizeof(struct wire_reclaim) == 8, "wire_reclaim layout");

struct wire_state {
	uint64_t total_bytes;
	uint64_t free_bytes;
	uint64_t slab_size;   /* this session's slab size */
	uint32_t total_slabs; /* in this session's slab size */
	uint32_t free_slabs;
	uint32_t session_slabs; /* held by the asking session */
	uint32_t clients;	/* connected sessions */
	uint64_t host_avail_bytes;
	/* slope of what the donor can still give (free pool capped by the
	 * host's MemAvailable above its low watermark), bytes per second */
	int64_t host_trend_bps;
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t uptime_ms;
	uint32_t caps;	   /* PROTO_CAP_* the donor serves */
	uint32_t evicting; /* slabs asked back and not yet freed */
};
_Static_assert(sizeof(struct wire_state) == 88, "wire_state layout");

/* Host-order views, what the rest of the code works with. */
struct proto_hdr {
	uint16_t op;
	uint16_t flags;
	uint64_t id;
	uint32_t len;
	uint32_t status;
};

/*
 * Decodes and checks a header: magic, known opcode, len within
 * PROTO_MAX_BODY and within the body size the opcode allows.
 * Returns 0, -EBADMSG (garbage, bad magic), -EOPNOTSUPP (unknown opcode)
 * or -EMSGSIZE (length).
 */
int proto_hdr_dec(const void *buf, struct proto_hdr *h);
void proto_hdr_enc(void *buf, const struct proto_hdr *h);
/* Human-readable name of a decode error, for logs and ERROR bodies. */
const char *proto_strerror(int err);
const char *proto_op_name(unsigned int op);
/* A reply's status as 0 or -errno: 0 -> 0, 1..4095 -> -status, anything
 * else (no errno is that large) -> -EPROTO. */
int proto_status_errno(uint32_t status);

/* Body codecs: in place, host order <-> wire order. */
void proto_hello_swap(struct wire_hello *m);
void proto_slab_swap(struct wire_slab *m);
void proto_slab_ref_swap(struct wire_slab_ref *m);
void proto_io_swap(struct wire_io *m);
void proto_evict_swap(struct wire_evict *m);
void proto_reclaim_swap(struct wire_reclaim *m);
void proto_state_swap(struct wire_state *m);

#endif

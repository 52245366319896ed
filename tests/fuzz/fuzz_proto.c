// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_proto - libFuzzer target for the donor's request decoder: the input
 * is a byte stream as a client would send it, run through the same pure
 * functions the TCP server uses (dmsg_check_hdr, dmsg_decode_body, the
 * donor's handshake halves) and, once "authenticated", through the real
 * session range checks against a real pool. Also feeds the input to the
 * client-side decoders (proto_hdr_dec, hs_hello_reply_check).
 *
 * Invariants checked: every rejection has a reason; a decoded body never
 * claims more than the header's length; an I/O the session accepts lies
 * inside the pool and inside one of the session's slabs.
 */
#include "donor/dmsg.h"
#include "donor/pool.h"
#include "donor/session.h"
#include "rdma/auth.h"
#include "rdma/handshake.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define POOL_BYTES (8ull << 20)

static struct donor *g_donor;
static struct session *g_sess;
static struct pool *g_pool;
static struct session_conn g_conn;
static const struct session_bind g_bind;

static void no_evict(struct session_conn *c, uint32_t slab, uint64_t dl)
{
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct donor_cfg cfg = { .grace_ms = 1000, .tick_ms = 1000 };
	uint8_t id[PROTO_SESSION_LEN] = { 0 };
	char err[256];

	if (auth_init() ||
	    pool_create(POOL_BYTES, POOL_NO_LOCK | POOL_NO_HUGETLB, &g_pool,
			err, sizeof(err)) ||
	    donor_create(&cfg, g_pool, &g_donor))
		abort();
	g_conn.evict = no_evict;
	if (session_attach(g_donor, id, 1 << 20, &g_bind, &g_conn, &g_sess))
		abort();
	return 0;
}

static void client_side(const uint8_t *data, size_t size)
{
	struct hs_params p = { .slab_size = 1 << 20 };
	struct wire_hello sent = { .version = PROTO_VERSION,
				   .slab_size = 1 << 20 },
			  reply;
	struct hs_result r;
	struct wire_auth a;
	struct proto_hdr h;
	char err[128];

	if (size < sizeof(struct wire_hdr))
		return;
	if (proto_hdr_dec(data, &h))
		return;
	if (h.op != PROTO_OP_HELLO)
		return;
	if (size >= sizeof(struct wire_hdr) + sizeof(reply)) {
		memcpy(&reply, data + sizeof(struct wire_hdr), sizeof(reply));
		proto_hello_swap(&reply);
		hs_hello_reply_check(&p, &sent, &h, &reply, &a, &r, err,
				     sizeof(err));
	} else {
		hs_hello_reply_check(&p, &sent, &h, NULL, &a, &r, err,
				     sizeof(err));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct auth_key nokey;
	enum dmsg_phase phase = DMSG_HELLO;
	struct wire_hello in = { 0 }, out = { 0 };
	uint32_t held[16];
	unsigned int nheld = 0;
	size_t pos = 0;

	client_side(data, size);
	while (size - pos >= sizeof(struct wire_hdr)) {
		struct proto_hdr h;
		union dmsg_body b;
		const char *why = NULL;
		struct wire_state st;
		struct wire_slab sl;
		size_t n;
		void *addr;

		if (dmsg_check_hdr(phase, data + pos, &h, &why)) {
			assert(why && *why);
			break;
		}
		pos += sizeof(struct wire_hdr);
		n = dmsg_fixed_len(&h);
		assert(n <= h.len && n <= sizeof(b));
		if (size - pos < n)
			break;
		if (dmsg_decode_body(&h, data + pos, &b, &why)) {
			assert(why && *why);
			break;
		}
		if (phase == DMSG_HELLO) {
			in = b.hello;
			if (hs_donor_hello(&nokey, 0, &in, &out))
				break;
			phase = DMSG_AUTH;
		} else if (phase == DMSG_AUTH) {
			if (hs_donor_auth(&nokey, &in, &out, &b.auth))
				break;
			phase = DMSG_READY;
		} else if (h.op == PROTO_OP_READ || h.op == PROTO_OP_WRITE) {
			if (!session_io_begin(g_sess, b.io.slab, b.io.off,
					      b.io.len, &addr)) {
				uint8_t *lo = pool_addr(g_pool, 0);
				uint8_t *a = addr;

				assert(a >= lo &&
				       a + b.io.len <= lo + POOL_BYTES);
				assert(b.io.off + b.io.len <= (1u << 20));
				if (b.io.len)
					a[b.io.len - 1] = a[0];
				session_io_end(g_sess, b.io.slab, b.io.len, 0);
			}
		} else if (h.op == PROTO_OP_ALLOC && nheld < 16) {
			if (!session_alloc(g_sess, &sl))
				held[nheld++] = sl.slab;
		} else if (h.op == PROTO_OP_FREE) {
			if (!session_free(g_sess, b.ref.slab)) {
				for (unsigned int i = 0; i < nheld; i++)
					if (held[i] == b.ref.slab)
						held[i] = held[--nheld];
			}
		} else if (h.op == PROTO_OP_QUERY) {
			session_state(g_sess, &st);
			assert(st.free_bytes <= st.total_bytes);
		}
		/* skip the rest of the body (WRITE data) */
		if (h.len - n > size - pos - n)
			break;
		pos += h.len;
	}
	/* every input starts from an empty session */
	while (nheld)
		session_free(g_sess, held[--nheld]);
	return 0;
}

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_proto - libFuzzer target for the donor's request path: the input is
 * a byte stream as a client would send it, run through the decoder the
 * listeners use (dmsg_check_hdr, dmsg_decode_body) and the request core
 * itself (donor/serve.c: HELLO with its identity name and X25519 key,
 * AUTH with its proofs, RESUME of an existing session, then QUERY, ALLOC
 * within a quota, FREE, RECLAIM, READ/WRITE range checks) against a real
 * pool. The first byte picks the donor's keyring: keyless (the session
 * paths open) or two identities with a quota and the operator (the proofs
 * must hold). Also feeds the input to the client-side checks
 * (proto_hdr_dec, hs_hello_reply_check, hs_auth_reply_check).
 *
 * Invariants checked: every rejection has a reason; a decoded body never
 * claims more than the header's length; an error reply carries no body;
 * an I/O the session accepts lies inside the pool and inside one of the
 * session's slabs; every slab is freed at the end of an input.
 */
#include "donor/dmsg.h"
#include "donor/pool.h"
#include "donor/serve.h"
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
#define MAX_HELD   16

static struct donor *g_donor;
static struct pool *g_pool;
static struct auth_ident g_ids[2];
static struct auth_keyring g_keyed = { g_ids, 2 }, g_keyless;
static uint32_t g_held[MAX_HELD];
static unsigned int g_nheld;

static void no_evict(struct session_conn *c, uint32_t slab, uint64_t dl)
{
}

static int f_reply(struct dconn *c, const struct proto_hdr *req,
		   uint32_t status, const void *body, uint32_t len)
{
	struct wire_slab ws;

	assert(!status || !len);
	assert(!len || body);
	if (req->op == PROTO_OP_ALLOC && !status) {
		assert(len == sizeof(ws));
		memcpy(&ws, body, sizeof(ws));
		proto_slab_swap(&ws);
		assert(g_nheld < MAX_HELD);
		g_held[g_nheld++] = ws.slab;
	}
	return 0;
}

static void f_error(struct dconn *c, uint64_t id, uint32_t err, const char *why)
{
	assert(err && why && *why);
}

static int f_io(struct dconn *c, const struct proto_hdr *h,
		const struct wire_io *io)
{
	uint8_t *lo = pool_addr(g_pool, 0), *a;
	void *addr;

	if (session_io_begin(c->s, io->slab, io->off, io->len, &addr))
		return 0;
	a = addr;
	assert(a >= lo && a + io->len <= lo + POOL_BYTES);
	/* the client picks the slab size at HELLO: any size hs_slab_size_ok()
	 * allows, not only the 1 MiB this harness asks for */
	assert(io->off + io->len <= session_slab_size(c->s));
	if (io->len)
		a[io->len - 1] = a[0];
	session_io_end(c->s, io->slab, io->len, 0);
	return 0;
}

static const struct dconn_ops g_ops = {
	.reply = f_reply,
	.error = f_error,
	.io = f_io,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct donor_cfg cfg = { .grace_ms = 0, .tick_ms = 1000 };
	char err[256];

	if (auth_init() ||
	    pool_create(POOL_BYTES, POOL_NO_LOCK | POOL_NO_HUGETLB, &g_pool,
			err, sizeof(err)) ||
	    donor_create(&cfg, g_pool, &g_donor))
		abort();
	memset(g_ids[0].key.bytes, 1, AUTH_KEY_LEN);
	g_ids[0].key.set = 1;
	strcpy(g_ids[0].name, "default");
	g_ids[0].quota = 2 << 20;
	memset(g_ids[1].key.bytes, 2, AUTH_KEY_LEN);
	g_ids[1].key.set = 1;
	strcpy(g_ids[1].name, AUTH_OPERATOR);
	g_ids[1].operator= 1;
	return 0;
}

static void client_side(const uint8_t *data, size_t size)
{
	struct hs_session sess = { .have = size & 1 };
	struct hs_params p = { .key = size & 2 ? &g_ids[0].key : NULL,
			       .sess = &sess,
			       .slab_size = 1 << 20 };
	struct wire_hello reply;
	struct hs_client st;
	struct hs_result r;
	struct wire_auth a;
	struct proto_hdr h;
	char err[160];

	if (size < sizeof(struct wire_hdr))
		return;
	if (proto_hdr_dec(data, &h))
		return;
	hs_auth_reply_check(&h, err, sizeof(err));
	if (h.op != PROTO_OP_HELLO)
		return;
	hs_hello_build(&p, &st);
	if (size >= sizeof(struct wire_hdr) + sizeof(reply)) {
		memcpy(&reply, data + sizeof(struct wire_hdr), sizeof(reply));
		proto_hello_swap(&reply);
		hs_hello_reply_check(&p, &st, &h, &reply, &a, &r, err,
				     sizeof(err));
	} else {
		hs_hello_reply_check(&p, &st, &h, NULL, &a, &r, err,
				     sizeof(err));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dconn c;
	size_t pos = 1;

	if (!size)
		return 0;
	client_side(data + 1, size - 1);
	memset(&c, 0, sizeof(c));
	c.sc.evict = no_evict;
	dconn_init(&c, &g_ops, g_donor, data[0] & 1 ? &g_keyed : &g_keyless, 0,
		   "fuzz");
	while (size - pos >= sizeof(struct wire_hdr)) {
		struct proto_hdr h;
		union dmsg_body b;
		const char *why = NULL;
		size_t n;

		if (dmsg_check_hdr(c.phase, data + pos, &h, &why)) {
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
		if (dconn_request(&c, &h, &b))
			break;
		/* skip the rest of the body (WRITE data) */
		if (h.len - n > size - pos - n)
			break;
		pos += h.len;
	}
	/* every input starts from an empty donor */
	while (g_nheld) {
		uint32_t slab = g_held[--g_nheld];

		if (c.s)
			session_free(c.s, slab);
	}
	dconn_close(&c);
	return 0;
}

// SPDX-License-Identifier: GPL-2.0-or-later
#include "rdma/auth.h"
#include "rdma/handshake.h"
#include "rdma/proto.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void enc(uint8_t *buf, uint16_t op, uint16_t flags, uint32_t len,
		uint32_t status)
{
	struct proto_hdr h = { .op = op,
			       .flags = flags,
			       .id = 0x1122334455667788ull,
			       .len = len,
			       .status = status };

	proto_hdr_enc(buf, &h);
}

START_TEST(header_round_trips_in_little_endian)
{
	uint8_t buf[sizeof(struct wire_hdr)];
	struct proto_hdr h;

	enc(buf, PROTO_OP_READ, PROTO_F_REPLY, 4096, 0);
	/* byte order is explicit: magic "CNMW", id little-endian */
	ck_assert_int_eq(memcmp(buf, "CNMW", 4), 0);
	ck_assert_int_eq(buf[8], 0x88);
	ck_assert_int_eq(proto_hdr_dec(buf, &h), 0);
	ck_assert_int_eq(h.op, PROTO_OP_READ);
	ck_assert_int_eq(h.flags, PROTO_F_REPLY);
	ck_assert_uint_eq(h.id, 0x1122334455667788ull);
	ck_assert_uint_eq(h.len, 4096);
}
END_TEST

START_TEST(header_rejects_bad_magic)
{
	uint8_t buf[sizeof(struct wire_hdr)];
	struct proto_hdr h;

	enc(buf, PROTO_OP_QUERY, 0, 0, 0);
	buf[0] ^= 0xff;
	ck_assert_int_eq(proto_hdr_dec(buf, &h), -EBADMSG);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(proto_hdr_dec(buf, &h), -EBADMSG);
}
END_TEST

START_TEST(header_rejects_unknown_flags)
{
	uint8_t buf[sizeof(struct wire_hdr)];
	struct proto_hdr h;

	enc(buf, PROTO_OP_QUERY, 0x8000, 0, 0);
	ck_assert_int_eq(proto_hdr_dec(buf, &h), -EBADMSG);
}
END_TEST

START_TEST(header_rejects_unknown_opcodes)
{
	uint8_t buf[sizeof(struct wire_hdr)];
	struct proto_hdr h;

	enc(buf, 0, 0, 0, 0);
	ck_assert_int_eq(proto_hdr_dec(buf, &h), -EOPNOTSUPP);
	enc(buf, PROTO_OP_MAX, 0, 0, 0);
	ck_assert_int_eq(proto_hdr_dec(buf, &h), -EOPNOTSUPP);
	enc(buf, 0xffff, 0, 0, 0);
	ck_assert_int_eq(proto_hdr_dec(buf, &h), -EOPNOTSUPP);
}
END_TEST

START_TEST(header_rejects_lengths_over_each_opcode_limit)
{
	static const struct {
		uint16_t op, flags;
		uint32_t ok, bad;
	} c[] = {
		{ PROTO_OP_HELLO, 0, sizeof(struct wire_hello),
		  sizeof(struct wire_hello) + 1 },
		{ PROTO_OP_AUTH, 0, sizeof(struct wire_auth),
		  sizeof(struct wire_auth) + 1 },
		{ PROTO_OP_AUTH, PROTO_F_REPLY, 0, 1 },
		{ PROTO_OP_QUERY, 0, 0, 1 },
		{ PROTO_OP_QUERY, PROTO_F_REPLY, sizeof(struct wire_state),
		  sizeof(struct wire_state) + 1 },
		{ PROTO_OP_ALLOC, PROTO_F_REPLY, sizeof(struct wire_slab),
		  sizeof(struct wire_slab) + 1 },
		{ PROTO_OP_FREE, 0, sizeof(struct wire_slab_ref), 9 },
		{ PROTO_OP_HEARTBEAT, 0, 0, 1 },
		{ PROTO_OP_EVICT, 0, sizeof(struct wire_evict), 17 },
		{ PROTO_OP_READ, 0, sizeof(struct wire_io), 17 },
		{ PROTO_OP_READ, PROTO_F_REPLY, PROTO_MAX_IO,
		  PROTO_MAX_IO + 1 },
		{ PROTO_OP_WRITE, 0, sizeof(struct wire_io) + PROTO_MAX_IO,
		  sizeof(struct wire_io) + PROTO_MAX_IO + 1 },
		{ PROTO_OP_ERROR, 0, PROTO_ERRTEXT_MAX, PROTO_ERRTEXT_MAX + 1 },
		{ PROTO_OP_RECLAIM, 0, sizeof(struct wire_reclaim), 9 },
		{ PROTO_OP_WRITE, 0, 16, 0xffffffffu },
	};
	uint8_t buf[sizeof(struct wire_hdr)];
	struct proto_hdr h;

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		enc(buf, c[i].op, c[i].flags, c[i].ok, 0);
		ck_assert_msg(proto_hdr_dec(buf, &h) == 0, "op %u len %u",
			      c[i].op, c[i].ok);
		enc(buf, c[i].op, c[i].flags, c[i].bad, 0);
		ck_assert_msg(proto_hdr_dec(buf, &h) == -EMSGSIZE,
			      "op %u len %u", c[i].op, c[i].bad);
	}
}
END_TEST

START_TEST(error_reply_carries_no_body_except_hello)
{
	uint8_t buf[sizeof(struct wire_hdr)];
	struct proto_hdr h;

	enc(buf, PROTO_OP_QUERY, PROTO_F_REPLY, sizeof(struct wire_state), EIO);
	ck_assert_int_eq(proto_hdr_dec(buf, &h), -EMSGSIZE);
	enc(buf, PROTO_OP_QUERY, PROTO_F_REPLY, 0, EIO);
	ck_assert_int_eq(proto_hdr_dec(buf, &h), 0);
	ck_assert_uint_eq(h.status, EIO);
	enc(buf, PROTO_OP_HELLO, PROTO_F_REPLY, sizeof(struct wire_hello),
	    EPROTONOSUPPORT);
	ck_assert_int_eq(proto_hdr_dec(buf, &h), 0);
}
END_TEST

START_TEST(bodies_round_trip)
{
	struct wire_state st = { .total_bytes = 1ull << 40,
				 .free_bytes = 3,
				 .slab_size = 1 << 20,
				 .total_slabs = 7,
				 .free_slabs = 6,
				 .session_slabs = 5,
				 .clients = 4,
				 .host_avail_bytes = 99,
				 .host_trend_bps = -12345,
				 .bytes_read = 1,
				 .bytes_written = 2,
				 .uptime_ms = 3,
				 .caps = PROTO_CAP_AUTH,
				 .evicting = 1 },
			  st2 = st;
	struct wire_io io = { .slab = 9, .len = 4096, .off = 1ull << 33 },
		       io2 = io;
	struct wire_slab sl = { .slab = 1, .rkey = 2, .size = 3, .addr = 4 },
			 sl2 = sl;
	struct wire_evict ev = { .slab = 3, .deadline_ms = 5000 }, ev2 = ev;
	struct wire_hello he = { .version = 1, .caps = 3, .slab_size = 64 },
			  he2 = he;
	struct wire_reclaim rc = { .bytes = 77 }, rc2 = rc;
	struct wire_slab_ref rf = { .slab = 12 }, rf2 = rf;

	proto_state_swap(&st2);
	proto_state_swap(&st2);
	ck_assert_int_eq(memcmp(&st, &st2, sizeof(st)), 0);
	proto_io_swap(&io2);
	/* on the wire the offset's low byte comes first */
	ck_assert_uint_eq(le64toh(io2.off), 1ull << 33);
	proto_io_swap(&io2);
	ck_assert_int_eq(memcmp(&io, &io2, sizeof(io)), 0);
	proto_slab_swap(&sl2);
	proto_slab_swap(&sl2);
	ck_assert_int_eq(memcmp(&sl, &sl2, sizeof(sl)), 0);
	proto_evict_swap(&ev2);
	proto_evict_swap(&ev2);
	ck_assert_int_eq(memcmp(&ev, &ev2, sizeof(ev)), 0);
	proto_hello_swap(&he2);
	proto_hello_swap(&he2);
	ck_assert_int_eq(memcmp(&he, &he2, sizeof(he)), 0);
	proto_reclaim_swap(&rc2);
	proto_reclaim_swap(&rc2);
	ck_assert_int_eq(memcmp(&rc, &rc2, sizeof(rc)), 0);
	proto_slab_ref_swap(&rf2);
	proto_slab_ref_swap(&rf2);
	ck_assert_int_eq(memcmp(&rf, &rf2, sizeof(rf)), 0);
}
END_TEST

START_TEST(names_and_messages_cover_every_code)
{
	for (unsigned int op = 1; op < PROTO_OP_MAX; op++)
		ck_assert_str_ne(proto_op_name(op), "unknown");
	ck_assert_str_eq(proto_op_name(999), "unknown");
	ck_assert_str_eq(proto_strerror(-EMSGSIZE),
			 "message length over the maximum");
	ck_assert_str_eq(proto_strerror(-EOPNOTSUPP), "unknown opcode");
}
END_TEST

/* ---- handshake halves, without a network ---- */

static struct auth_key key_a, key_b, nokey;
static struct auth_ident ids[2];
static struct auth_keyring kr_a = { &ids[0], 1 }, kr_b = { &ids[1], 1 },
			   kr_none;

static void keys(void)
{
	ck_assert_int_eq(auth_init(), 0);
	memset(key_a.bytes, 1, sizeof(key_a.bytes));
	key_a.set = 1;
	memset(key_b.bytes, 2, sizeof(key_b.bytes));
	key_b.set = 1;
	snprintf(ids[0].name, sizeof(ids[0].name), "default");
	ids[0].key = key_a;
	snprintf(ids[1].name, sizeof(ids[1].name), "default");
	ids[1].key = key_b;
}

/*
 * Runs both halves; returns the client's result. resume: the donor holds
 * the session with old_secret. On success the donor's new secret is in
 * hd_out.
 */
static int exchange_s(const struct auth_key *ck, const char *name,
		      struct hs_session *cs, const struct auth_keyring *kr,
		      uint64_t slab, int resume, const uint8_t *old_secret,
		      int *donor_auth, struct hs_donor *hd)
{
	struct hs_params p = {
		.key = ck, .name = name, .sess = cs, .slab_size = slab
	};
	struct wire_auth auth;
	struct proto_hdr h = { .op = PROTO_OP_HELLO, .flags = PROTO_F_REPLY };
	struct hs_client st;
	struct hs_result r;
	char err[160];
	int ret;

	*donor_auth = -1;
	memset(hd, 0, sizeof(*hd));
	hd->kr = kr;
	hs_hello_build(&p, &st);
	h.status = (uint32_t)hs_donor_hello(hd, 0, resume, &st.sent);
	h.len = h.status ? 0 : sizeof(hd->out);
	ret = hs_hello_reply_check(&p, &st, &h, h.status ? NULL : &hd->out,
				   &auth, &r, err, sizeof(err));
	if (!ret) {
		*donor_auth = hs_donor_auth(hd, old_secret, &auth);
		ck_assert_uint_eq(r.slab_size, slab);
		ck_assert_int_eq(r.resumed, !!resume);
	}
	return ret;
}

static int exchange(const struct auth_key *ck, const struct auth_keyring *kr,
		    uint64_t slab, int *donor_auth)
{
	struct hs_donor hd;

	return exchange_s(ck, NULL, NULL, kr, slab, 0, NULL, donor_auth, &hd);
}

START_TEST(handshake_same_key_passes_both_ways)
{
	int da;

	keys();
	ck_assert_int_eq(exchange(&key_a, &kr_a, 1 << 20, &da), 0);
	ck_assert_int_eq(da, 0);
	ck_assert_int_eq(exchange(&nokey, &kr_none, 64 << 20, &da), 0);
	ck_assert_int_eq(da, 0);
}
END_TEST

START_TEST(handshake_refuses_a_key_on_one_side_or_a_wrong_key)
{
	int da;

	keys();
	ck_assert_int_eq(exchange(&key_a, &kr_b, 1 << 20, &da), -EACCES);
	ck_assert_int_eq(exchange(&key_a, &kr_none, 1 << 20, &da), -EACCES);
	ck_assert_int_eq(exchange(&nokey, &kr_a, 1 << 20, &da), -EACCES);
}
END_TEST

START_TEST(handshake_picks_the_key_by_identity_name)
{
	struct auth_ident two[2] = { ids[0], ids[1] };
	struct auth_keyring kr = { two, 2 };
	struct hs_donor hd;
	int da;

	keys();
	two[0] = ids[0];
	two[1] = ids[1];
	snprintf(two[1].name, sizeof(two[1].name), "web");
	ck_assert_int_eq(exchange_s(&key_b, "web", NULL, &kr, 1 << 20, 0, NULL,
				    &da, &hd),
			 0);
	ck_assert_int_eq(da, 0);
	ck_assert_ptr_eq(hd.ident, &two[1]);
	/* the right key under another identity's name proves nothing */
	ck_assert_int_eq(exchange_s(&key_b, "default", NULL, &kr, 1 << 20, 0,
				    NULL, &da, &hd),
			 -EACCES);
	/* an unknown name is refused at HELLO */
	ck_assert_int_eq(exchange_s(&key_b, "nobody", NULL, &kr, 1 << 20, 0,
				    NULL, &da, &hd),
			 -EACCES);
}
END_TEST

START_TEST(resuming_a_session_needs_its_secret)
{
	struct hs_session cs = { 0 }, other = { 0 };
	uint8_t secret[AUTH_KEY_LEN];
	struct hs_donor hd;
	int da;

	keys();
	/* creation: both ends derive the same secret, never sent */
	ck_assert_int_eq(exchange_s(&key_a, NULL, &cs, &kr_a, 1 << 20, 0, NULL,
				    &da, &hd),
			 0);
	ck_assert_int_eq(da, 0);
	ck_assert(cs.have);
	ck_assert_mem_eq(cs.secret, hd.secret, AUTH_KEY_LEN);
	ck_assert(memmem(&hd.out, sizeof(hd.out), hd.secret, 8) == NULL);
	memcpy(secret, hd.secret, sizeof(secret));
	/* the creator resumes */
	ck_assert_int_eq(exchange_s(&key_a, NULL, &cs, &kr_a, 1 << 20, 1,
				    secret, &da, &hd),
			 0);
	ck_assert_int_eq(da, 0);
	/* another holder of the key, knowing the id, has no secret */
	ck_assert_int_eq(exchange_s(&key_a, NULL, &other, &kr_a, 1 << 20, 1,
				    secret, &da, &hd),
			 -EACCES);
	/* nor does a wrong one pass */
	other.have = 1;
	memset(other.secret, 9, sizeof(other.secret));
	ck_assert_int_eq(exchange_s(&key_a, NULL, &other, &kr_a, 1 << 20, 1,
				    secret, &da, &hd),
			 0);
	ck_assert_int_eq(da, EACCES);
}
END_TEST

START_TEST(donor_refuses_a_forged_client_proof)
{
	struct hs_params p = { .key = &key_a, .slab_size = 1 << 20 };
	struct hs_donor hd = { .kr = &kr_a }, hn = { .kr = &kr_none };
	struct hs_client st;
	struct wire_auth auth = { 0 };

	keys();
	hs_hello_build(&p, &st);
	ck_assert_int_eq(hs_donor_hello(&hd, 0, 0, &st.sent), 0);
	/* a reflected donor proof is not a client proof */
	memcpy(auth.proof, hd.out.proof, sizeof(auth.proof));
	ck_assert_int_eq(hs_donor_auth(&hd, NULL, &auth), EACCES);
	memset(auth.proof, 0, sizeof(auth.proof));
	ck_assert_int_eq(hs_donor_hello(&hd, 0, 0, &st.sent), 0);
	ck_assert_int_eq(hs_donor_auth(&hd, NULL, &auth), EACCES);
	/* a keyless donor refuses a client claiming a key at once */
	ck_assert_int_eq(hs_donor_hello(&hn, 0, 0, &st.sent), EACCES);
}
END_TEST

START_TEST(handshake_refuses_bad_version_and_slab_sizes)
{
	struct hs_params p = { .key = &nokey, .slab_size = 1 << 20 };
	struct hs_donor hd = { .kr = &kr_none };
	struct hs_client st;
	int da;

	keys();
	hs_hello_build(&p, &st);
	st.sent.version = PROTO_VERSION + 1;
	ck_assert_int_eq(hs_donor_hello(&hd, 0, 0, &st.sent), EPROTONOSUPPORT);
	ck_assert_int_eq(exchange(&nokey, &kr_none, 3 << 20, &da), -EINVAL);
	ck_assert_int_eq(exchange(&nokey, &kr_none, 1 << 19, &da), -EINVAL);
	ck_assert_int_eq(exchange(&nokey, &kr_none, 2ull << 30, &da), -EINVAL);
	ck_assert(hs_slab_size_ok(1ull << 30));
	ck_assert(!hs_slab_size_ok(0));
}
END_TEST

START_TEST(hs_client_reports_timeout_and_reset)
{
	struct hs_params p = { .key = &nokey,
			       .slab_size = 1 << 20,
			       .timeout_ms = 100 };
	struct hs_result r;
	char err[128];
	int sv[2];

	keys();
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* nobody answers */
	ck_assert_int_eq(hs_client(sv[0], &p, &r, err, sizeof(err)),
			 -ETIMEDOUT);
	close(sv[1]);
	ck_assert_int_eq(hs_client(sv[0], &p, &r, err, sizeof(err)),
			 -ECONNRESET);
	close(sv[0]);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"proto", NULL,
		CNM_TESTS(
			header_round_trips_in_little_endian,
			header_rejects_bad_magic, header_rejects_unknown_flags,
			header_rejects_unknown_opcodes,
			header_rejects_lengths_over_each_opcode_limit,
			error_reply_carries_no_body_except_hello,
			bodies_round_trip, names_and_messages_cover_every_code,
			handshake_same_key_passes_both_ways,
			handshake_refuses_a_key_on_one_side_or_a_wrong_key,
			handshake_picks_the_key_by_identity_name,
			resuming_a_session_needs_its_secret,
			donor_refuses_a_forged_client_proof,
			handshake_refuses_bad_version_and_slab_sizes,
			hs_client_reports_timeout_and_reset));
}

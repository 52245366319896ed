// SPDX-License-Identifier: GPL-2.0-or-later
#include "donor/dmsg.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int hdr(enum dmsg_phase ph, uint16_t op, uint16_t flags, uint32_t len,
	       struct proto_hdr *h)
{
	uint8_t raw[sizeof(struct wire_hdr)];
	const char *why = NULL;
	int ret;

	proto_hdr_enc(raw,
		      &(struct proto_hdr){
			      .op = op, .flags = flags, .id = 5, .len = len });
	ret = dmsg_check_hdr(ph, raw, h, &why);
	if (ret)
		ck_assert_ptr_nonnull(why);
	return ret;
}

START_TEST(handshake_order_is_enforced)
{
	struct proto_hdr h;

	ck_assert_int_eq(hdr(DMSG_HELLO, PROTO_OP_HELLO, 0,
			     sizeof(struct wire_hello), &h),
			 0);
	ck_assert_int_eq(hdr(DMSG_HELLO, PROTO_OP_QUERY, 0, 0, &h), -EACCES);
	ck_assert_int_eq(hdr(DMSG_HELLO, PROTO_OP_READ, 0, 16, &h), -EACCES);
	ck_assert_int_eq(
		hdr(DMSG_HELLO, PROTO_OP_AUTH, 0, sizeof(struct wire_auth), &h),
		-EPROTO);
	ck_assert_int_eq(
		hdr(DMSG_AUTH, PROTO_OP_AUTH, 0, sizeof(struct wire_auth), &h),
		0);
	ck_assert_int_eq(hdr(DMSG_AUTH, PROTO_OP_ALLOC, 0, 0, &h), -EACCES);
	ck_assert_int_eq(hdr(DMSG_READY, PROTO_OP_HELLO, 0,
			     sizeof(struct wire_hello), &h),
			 -EPROTO);
	ck_assert_int_eq(
		hdr(DMSG_READY, PROTO_OP_AUTH, 0, sizeof(struct wire_auth), &h),
		-EPROTO);
}
END_TEST

START_TEST(client_cannot_send_replies_or_donor_messages)
{
	struct proto_hdr h;

	ck_assert_int_eq(hdr(DMSG_READY, PROTO_OP_QUERY, PROTO_F_REPLY, 0, &h),
			 -EPROTO);
	ck_assert_int_eq(hdr(DMSG_READY, PROTO_OP_EVICT, 0, 16, &h),
			 -EOPNOTSUPP);
	ck_assert_int_eq(hdr(DMSG_READY, PROTO_OP_ERROR, 0, 0, &h),
			 -EOPNOTSUPP);
	ck_assert_int_eq(hdr(DMSG_READY, 77, 0, 0, &h), -EOPNOTSUPP);
}
END_TEST

START_TEST(body_lengths_must_match_the_opcode)
{
	struct proto_hdr h;

	ck_assert_int_eq(hdr(DMSG_HELLO, PROTO_OP_HELLO, 0, 95, &h), -EMSGSIZE);
	ck_assert_int_eq(hdr(DMSG_READY, PROTO_OP_READ, 0, 15, &h), -EMSGSIZE);
	ck_assert_int_eq(hdr(DMSG_READY, PROTO_OP_WRITE, 0, 15, &h), -EMSGSIZE);
	ck_assert_int_eq(hdr(DMSG_READY, PROTO_OP_FREE, 0, 0, &h), -EMSGSIZE);
	ck_assert_int_eq(hdr(DMSG_READY, PROTO_OP_RECLAIM, 0, 4, &h),
			 -EMSGSIZE);
	ck_assert_int_eq(hdr(DMSG_READY, PROTO_OP_WRITE, 0, 16 + 4096, &h), 0);
	ck_assert_uint_eq(dmsg_fixed_len(&h), 16);
	ck_assert_int_eq(
		hdr(DMSG_READY, PROTO_OP_WRITE, 0, 16 + PROTO_MAX_IO + 1, &h),
		-EMSGSIZE);
}
END_TEST

START_TEST(io_bodies_are_checked)
{
	struct proto_hdr h = { .op = PROTO_OP_WRITE, .len = 16 + 100 };
	struct wire_io io = { .slab = 3, .len = 100, .off = 4096 };
	union dmsg_body b;
	const char *why;

	proto_io_swap(&io);
	ck_assert_int_eq(dmsg_decode_body(&h, &io, &b, &why), 0);
	ck_assert_uint_eq(b.io.slab, 3);
	ck_assert_uint_eq(b.io.off, 4096);
	h.len = 16 + 99;
	ck_assert_int_eq(dmsg_decode_body(&h, &io, &b, &why), -EBADMSG);
	h = (struct proto_hdr){ .op = PROTO_OP_READ, .len = 16 };
	io = (struct wire_io){ .len = PROTO_MAX_IO + 1 };
	proto_io_swap(&io);
	ck_assert_int_eq(dmsg_decode_body(&h, &io, &b, &why), -EMSGSIZE);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"dmsg", NULL,
		CNM_TESTS(handshake_order_is_enforced,
			  client_cannot_send_replies_or_donor_messages,
			  body_lengths_must_match_the_opcode,
			  io_bodies_are_checked));
}

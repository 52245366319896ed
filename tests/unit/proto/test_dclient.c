// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rdma/dclient.c over a socketpair: the donor's side is written into the
 * pair before each call (the client sends its request first and never
 * waits for it to be read), then the request the client sent is checked.
 */
#include "rdma/dclient.h"
#include "rdma/handshake.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int sv[2];
static struct dcl c;

static void setup(void)
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	memset(&c, 0, sizeof(c));
	c.fd = sv[0];
	c.next_id = 10;
	c.timeout_ms = 2000;
}

static void teardown(void)
{
	close(sv[0]);
	close(sv[1]);
}

/* The donor says op (a reply when reply is set) with status and body. */
static void donor_says(uint16_t op, int reply, uint32_t status,
		       const void *body, uint32_t len)
{
	struct proto_hdr h = { .op = op,
			       .flags = reply ? PROTO_F_REPLY : 0,
			       .id = 11,
			       .len = len,
			       .status = status };

	ck_assert_int_eq(hs_send_msg(sv[1], &h, body, 1000), 0);
}

/* A request without body or reply body. */
static int call(uint16_t op)
{
	return dcl_call(&c, op, NULL, 0, NULL, 0, NULL, 0, NULL);
}

/* A request without body fails with want; the client's message (c.err) is
 * empty when err is "", holds err otherwise, and is not looked at when err
 * is NULL. */
static void call_fails(uint16_t op, int want, const char *err)
{
	ck_assert_int_eq(call(op), want);
	if (err && !*err)
		ck_assert_str_eq(c.err, "");
	else if (err)
		ck_assert_ptr_nonnull(strstr(c.err, err));
}

/* The request the client sent: op and body length. */
static void client_sent(uint16_t op, uint32_t len)
{
	uint8_t body[256];
	struct proto_hdr h;

	ck_assert_int_eq(hs_recv_msg(sv[1], &h, body, sizeof(body), 1000), 0);
	ck_assert_uint_eq(h.op, op);
	ck_assert_uint_eq(h.len, len);
	ck_assert_uint_eq(h.id, 11);
}

START_TEST(reply_body_is_copied_after_unsolicited_evicts)
{
	struct wire_evict ev = { .slab = 3 };
	struct wire_slab s = { .slab = 7 }, got;
	uint32_t len = 0;

	donor_says(PROTO_OP_EVICT, 0, 0, &ev, sizeof(ev));
	donor_says(PROTO_OP_EVICT, 0, 0, &ev, sizeof(ev));
	donor_says(PROTO_OP_ALLOC, 1, 0, &s, sizeof(s));
	ck_assert_int_eq(dcl_call(&c, PROTO_OP_ALLOC, NULL, 0, NULL, 0, &got,
				  sizeof(got), &len),
			 0);
	ck_assert_uint_eq(len, sizeof(got));
	ck_assert_uint_eq(got.slab, 7);
	ck_assert_uint_eq(c.evicts, 2);
	ck_assert_str_eq(c.err, "");
	client_sent(PROTO_OP_ALLOC, 0);
}
END_TEST

START_TEST(request_body_and_data_go_out_as_one_request)
{
	uint8_t data[100] = { 1 };
	struct wire_io io = { .slab = 1, .len = sizeof(data) };

	donor_says(PROTO_OP_WRITE, 1, 0, NULL, 0);
	ck_assert_int_eq(dcl_call(&c, PROTO_OP_WRITE, &io, sizeof(io), data,
				  sizeof(data), NULL, 0, NULL),
			 0);
	client_sent(PROTO_OP_WRITE, sizeof(io) + sizeof(data));
}
END_TEST

START_TEST(refusal_status_is_minus_errno_without_words)
{
	donor_says(PROTO_OP_ALLOC, 1, ENOSPC, NULL, 0);
	call_fails(PROTO_OP_ALLOC, -ENOSPC, "");
}
END_TEST

START_TEST(status_out_of_errno_range_is_eproto)
{
	donor_says(PROTO_OP_HEARTBEAT, 1, 70000, NULL, 0);
	call_fails(PROTO_OP_HEARTBEAT, -EPROTO, NULL);
}
END_TEST

START_TEST(donor_error_message_gives_its_status_and_text)
{
	static const char text[] = "reclaim refused";

	donor_says(PROTO_OP_ERROR, 0, EPERM, text, sizeof(text) - 1);
	call_fails(PROTO_OP_RECLAIM, -EPERM, NULL);
	ck_assert_str_eq(c.err, "donor: reclaim refused");
}
END_TEST

START_TEST(reply_to_another_op_is_eproto_and_says_so)
{
	donor_says(PROTO_OP_FREE, 1, 0, NULL, 0);
	call_fails(PROTO_OP_HEARTBEAT, -EPROTO, "reply to");
}
END_TEST

START_TEST(reply_longer_than_the_buffer_is_emsgsize)
{
	uint8_t big[64] = { 0 }, small[8];

	donor_says(PROTO_OP_READ, 1, 0, big, sizeof(big));
	ck_assert_int_eq(dcl_call(&c, PROTO_OP_READ, NULL, 0, NULL, 0, small,
				  sizeof(small), NULL),
			 -EMSGSIZE);
}
END_TEST

START_TEST(donor_gone_is_econnreset_and_says_so)
{
	close(sv[1]);
	sv[1] = -1;
	call_fails(PROTO_OP_HEARTBEAT, -ECONNRESET, "closed the connection");
}
END_TEST

START_TEST(silent_donor_times_out)
{
	c.timeout_ms = 100;
	call_fails(PROTO_OP_HEARTBEAT, -ETIMEDOUT, "did not answer in time");
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"dclient",
		&(const struct cnm_tcase_opt){ .setup = setup,
					       .teardown = teardown },
		CNM_TESTS(reply_body_is_copied_after_unsolicited_evicts,
			  request_body_and_data_go_out_as_one_request,
			  refusal_status_is_minus_errno_without_words,
			  status_out_of_errno_range_is_eproto,
			  donor_error_message_gives_its_status_and_text,
			  reply_to_another_op_is_eproto_and_says_so,
			  reply_longer_than_the_buffer_is_emsgsize,
			  donor_gone_is_econnreset_and_says_so,
			  silent_donor_times_out));
}

// SPDX-License-Identifier: GPL-2.0-or-later
#include "fs/srv.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A DNS answer built by hand: header, one question, then records. */
struct msg {
	uint8_t b[1024];
	int len;
};

static void put(struct msg *m, const void *p, int n)
{
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void put16(struct msg *m, unsigned int v)
{
	uint8_t b[2] = { v >> 8, v & 0xff };

	put(m, b, 2);
}

static void put32(struct msg *m, uint32_t v)
{
	put16(m, v >> 16);
	put16(m, v & 0xffff);
}

/* "a.b" as labels */
static void put_name(struct msg *m, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		int n = dot ? (int)(dot - name) : (int)strlen(name);
		uint8_t l = (uint8_t)n;

		put(m, &l, 1);
		put(m, name, n);
		name += n + (dot ? 1 : 0);
	}
	put(m, "", 1);
}

static void start(struct msg *m, unsigned int nan)
{
	m->len = 0;
	put16(m, 0x1234); /* id */
	put16(m, 0x8180); /* response, recursion available, NOERROR */
	put16(m, 1);
	put16(m, nan);
	put16(m, 0);
	put16(m, 0);
	put_name(m, "_cnetmem._tcp.test");
	put16(m, 33); /* SRV */
	put16(m, 1);  /* IN */
}

static void srv(struct msg *m, uint32_t ttl, unsigned int port,
		const char *target)
{
	struct msg rd = { .len = 0 };

	put16(m, 0xc00c); /* the question's name */
	put16(m, 33);
	put16(m, 1);
	put32(m, ttl);
	put16(&rd, 10); /* priority */
	put16(&rd, 5);	/* weight */
	put16(&rd, port);
	put_name(&rd, target);
	put16(m, rd.len);
	put(m, rd.b, rd.len);
}

/* what parse() made of the last answer */
static char got[4][SRV_ADDR_LEN];
static unsigned int got_n;
static uint32_t got_ttl;

/* srv_parse() of the first len bytes of m into room entries of got */
static int parse(const struct msg *m, int len, unsigned int room)
{
	return srv_parse(m->b, len, got, room, &got_n, &got_ttl);
}

START_TEST(srv_answer_gives_targets_as_host_port_and_the_smallest_ttl)
{
	struct msg m;

	start(&m, 3);
	srv(&m, 30, 7700, "donor-0.donors.svc.cluster.local");
	srv(&m, 10, 7701, "10.0.0.2");
	srv(&m, 5, 7702, ""); /* "." : no service, ignored */
	ck_assert_int_eq(parse(&m, m.len, 4), 0);
	ck_assert_uint_eq(got_n, 2);
	ck_assert_str_eq(got[0], "donor-0.donors.svc.cluster.local:7700");
	ck_assert_str_eq(got[1], "10.0.0.2:7701");
	ck_assert_uint_eq(got_ttl, 10);
	/* room for one: the rest is dropped, not overrun */
	ck_assert_int_eq(parse(&m, m.len, 1), 0);
	ck_assert_uint_eq(got_n, 1);
}
END_TEST

START_TEST(truncated_or_garbage_answers_are_ebadmsg)
{
	struct msg m;

	start(&m, 1);
	srv(&m, 30, 7700, "donor.test");
	for (int len = 0; len < m.len; len++)
		ck_assert_int_eq(parse(&m, len, 4), -EBADMSG);
	memset(m.b + 12, 0xc0, 8); /* a name that points at itself */
	ck_assert_int_eq(parse(&m, m.len, 4), -EBADMSG);
	ck_assert_int_eq(parse(&m, -1, 4), -EBADMSG);
}
END_TEST

START_TEST(a_bad_resolver_address_is_einval)
{
	struct srv_server sv = { "not-an-ip:53" };
	char out[1][SRV_ADDR_LEN], err[128];
	unsigned int n;
	uint32_t ttl;

	ck_assert_int_eq(srv_lookup("_x._tcp.test", &sv, out, 1, &n, &ttl, err,
				    sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not-an-ip"));
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"fs_srv", NULL,
		CNM_TESTS(
			srv_answer_gives_targets_as_host_port_and_the_smallest_ttl,
			truncated_or_garbage_answers_are_ebadmsg,
			a_bad_resolver_address_is_einval));
}

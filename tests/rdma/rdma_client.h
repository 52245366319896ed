/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rdma_client - what rdma_client.c (the transport checks, main) shares
 * with rdma_donor_cost.c (what the donor's RDMA listener costs and
 * enforces). Test code.
 */
#ifndef CNM_TESTS_RDMA_CLIENT_H
#define CNM_TESTS_RDMA_CLIENT_H

#include "rdma/auth.h"
#include "rdma/xport.h"

#include <stdint.h>

extern const char *host, *port; /* the donor under test */
extern struct auth_key key;

/* An XPORT_RDMA transport of session sess_byte..., up; 0 or -errno
 * (printed as "fail: ..."). */
int open_x(const struct auth_key *k, uint8_t sess_byte,
	   unsigned int reconnect_ms, struct xport **out);

/* rdma_donor_cost.c */
int check_silent(void);
int check_conns(const char *pid);

/* rdma_poll.c: xport_poll() over verbs */
int check_poll_own(void);
int check_poll_race(void);
int check_poll_teardown(void);
int check_poll_kill(const char *ready);

#endif

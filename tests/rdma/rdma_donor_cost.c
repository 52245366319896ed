// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rdma_donor_cost - rdma_client's checks of what the donor's RDMA
 * listener costs and enforces (issue 15), against donor PID in the guest:
 *
 *     silent    an RDMA connection that never says HELLO: the donor must
 *               close it at its handshake deadline (prints how long)
 *     conns PID CONNS_N connections to donor PID, each one served (a
 *               query, an alloc and a free): its threads and its
 *               anonymous descriptors (event channels, eventfds, epoll)
 *               must be as many with CONNS_N as with one; and this
 *               client's own threads too (the mount's side: one verbs
 *               loop and the connectors, rdma/verbs_loop.c)
 *
 * Threading: main only.
 */
#include "tests/rdma/rdma_client.h"

#include "common/clock.h"
#include "rdma/verbs_setup.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <rdma/rdma_cma.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CONNS_N 8

/* The next CM event's type within ms, or -1. */
static int cm_next(struct rdma_event_channel *ec, unsigned int ms)
{
	struct pollfd p = { .fd = ec->fd, .events = POLLIN };
	struct rdma_cm_event *ev;
	int t;

	if (poll(&p, 1, (int)ms) != 1 || rdma_get_cm_event(ec, &ev))
		return -1;
	t = ev->event;
	rdma_ack_cm_event(ev);
	return t;
}

int check_silent(void)
{
	struct rdma_addrinfo hints = { .ai_port_space = RDMA_PS_TCP }, *ai;
	static uint8_t msgs[2 * 64];
	struct vsetup_cfg cfg = { .send_wr = 1,
				  .recv_wr = 2,
				  .max_send_sge = 1,
				  .cqe = 4,
				  .msgs = msgs,
				  .msg_size = 64,
				  .nmsgs = 2,
				  .nrecv = 2 };
	struct rdma_conn_param cp = { .retry_count = 7 };
	struct rdma_event_channel *ec;
	struct rdma_cm_id *id = NULL;
	struct vsetup vs = { 0 };
	uint64_t t0;
	int ret = 1, t;

	ec = rdma_create_event_channel();
	if (!ec || rdma_create_id(ec, &id, NULL, RDMA_PS_TCP) ||
	    rdma_getaddrinfo(host, port, &hints, &ai)) {
		printf("fail: rdma_cm: %s\n", strerror(errno));
		goto out;
	}
	t = rdma_resolve_addr(id, NULL, ai->ai_dst_addr, 2000)
		    ? -1
		    : cm_next(ec, 3000);
	rdma_freeaddrinfo(ai);
	if (t == RDMA_CM_EVENT_ADDR_RESOLVED)
		t = rdma_resolve_route(id, 2000) ? -1 : cm_next(ec, 3000);
	if (t != RDMA_CM_EVENT_ROUTE_RESOLVED || vsetup_create(&vs, id, &cfg)) {
		printf("fail: cannot resolve or set up (%d)\n", t);
		goto out;
	}
	cp.initiator_depth = vs.init_rd_atom;
	if (rdma_connect(id, &cp) ||
	    cm_next(ec, 5000) != RDMA_CM_EVENT_ESTABLISHED) {
		printf("fail: not connected\n");
		goto out;
	}
	/* say nothing; a bound on a hang, well past the donor's 10 s */
	t0 = mono_ns();
	t = cm_next(ec, 40000);
	if (t != RDMA_CM_EVENT_DISCONNECTED) {
		printf("fail: still connected after 40 s (event %d)\n", t);
		goto out;
	}
	printf("ok: a silent connection closed by the donor after %.1f s\n",
	       (double)(mono_ns() - t0) / 1e9);
	ret = 0;
out:
	vsetup_destroy_qp(id);
	vsetup_destroy(&vs);
	if (id)
		rdma_destroy_id(id);
	if (ec)
		rdma_destroy_event_channel(ec);
	return ret;
}

/* Entries of /proc/PID/DIR; fd: only those of anon_inode:[...]. */
static int proc_count(const char *pid, const char *dir)
{
	char path[300], link[64];
	struct dirent *e;
	ssize_t n;
	DIR *d;
	int count = 0;

	snprintf(path, sizeof(path), "/proc/%s/%s", pid, dir);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (!strcmp(dir, "fd")) {
			snprintf(path, sizeof(path), "/proc/%s/fd/%s", pid,
				 e->d_name);
			n = readlink(path, link, sizeof(link) - 1);
			if (n < 0)
				continue;
			link[n] = '\0';
			if (strncmp(link, "anon_inode:", 11))
				continue; /* files come and go (meminfo) */
		}
		count++;
	}
	closedir(d);
	return count;
}

/* One round-trip and a slab registered and deregistered on x. */
static int conn_serve(struct xport *x, int i)
{
	struct wire_state ws;
	struct xport_slab a;
	int ret;

	ret = xport_query(x, &ws);
	if (!ret)
		ret = xport_alloc(x, &a);
	if (!ret)
		ret = xport_free(x, a.slab);
	if (ret)
		printf("fail: connection %d: %s\n", i, strerror(-ret));
	return ret;
}

int check_conns(const char *pid)
{
	struct xport *x[CONNS_N] = { 0 };
	int t1, f1, c1, tn = -1, fn = -1, cn = -1, i, ret = 1;
	bool ok;

	if (open_x(&key, 0x60, 0, &x[0]) || conn_serve(x[0], 0))
		goto out;
	t1 = proc_count(pid, "task");
	f1 = proc_count(pid, "fd");
	c1 = proc_count("self", "task");
	for (i = 1; i < CONNS_N; i++)
		if (open_x(&key, (uint8_t)(0x60 + i), 0, &x[i]) ||
		    conn_serve(x[i], i))
			goto out;
	tn = proc_count(pid, "task");
	fn = proc_count(pid, "fd");
	cn = proc_count("self", "task");
	ok = t1 > 0 && tn == t1 && fn == f1;
	printf("%s: donor threads %d with 1 connection, %d with %d; anonymous "
	       "descriptors %d, %d\n",
	       ok ? "ok" : "fail", t1, tn, CONNS_N, f1, fn);
	printf("%s: client threads %d with 1 connection, %d with %d\n",
	       c1 > 0 && cn == c1 ? "ok" : "fail", c1, cn, CONNS_N);
	printf("figure: client threads %d with 1 verbs connection, %d with "
	       "%d\n",
	       c1, cn, CONNS_N);
	ret = ok && c1 > 0 && cn == c1 ? 0 : 1;
out:
	for (i = 0; i < CONNS_N; i++)
		if (x[i])
			xport_close(x[i]);
	return ret;
}

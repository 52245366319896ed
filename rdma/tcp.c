// SPDX-License-Identifier: GPL-2.0-or-later
/* tcp - XPORT_TCP backend: not written yet, open() refuses. */
#include "rdma/xport.h"

#include <errno.h>

static int tcp_open(const struct xport_cfg *cfg, struct xport **out)
{
	return -EPROTONOSUPPORT;
}

const struct xport_backend xport_tcp_backend = {
	.name = "tcp",
	.open = tcp_open,
};

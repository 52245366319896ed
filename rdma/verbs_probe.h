/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * verbs_probe - what the RDMA backend (rdma/verbs_*.c) exports besides its
 * struct xport_backend: the XPORT_AUTO reachability probe for xport.c and
 * two hooks for the rdma test client.
 *
 * Threading: any thread; xport_rdma_reachable() blocks up to timeout_ms.
 */
#ifndef CNM_RDMA_VERBS_PROBE_H
#define CNM_RDMA_VERBS_PROBE_H

#include "rdma/xport.h"

#include <stdint.h>

/*
 * 1 if an RDMA device on this host has an address route to host:port
 * (rdma_cm resolves address and route), else 0. Sends nothing to the
 * donor; the donor may still not listen for RDMA (XPORT_AUTO then falls
 * back to TCP on the connection error).
 */
int xport_rdma_reachable(const char *host, const char *port,
			 unsigned int timeout_ms);

/*
 * Test hooks: read a slab's remote address and key, and install a slab
 * entry the donor never granted (to prove that a foreign key is refused by
 * the donor's memory protection). 0, -ENOENT, -ENOMEM.
 */
int xport_rdma_slab_info(struct xport *x, uint32_t slab,
			 struct xport_slab *out);
int xport_rdma_forge_slab(struct xport *x, const struct xport_slab *s);

#endif

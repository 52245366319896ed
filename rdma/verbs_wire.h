/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * verbs_wire - the constants both ends of the RDMA transport agree on:
 * control messages on SEND/RECV (rdma/proto.h headers and bodies, one
 * message per SEND, at most VB_MSG bytes) and the credits that keep every
 * SEND landing on a posted receive. Shared by rdma/verbs_*.c (client) and
 * donor/rdma_server.c.
 *
 * Client -> donor: the donor posts VB_CREDITS receives; each request takes
 * a credit and its reply returns it (the donor re-posts first).
 * Donor -> client: the client posts VB_CREDITS + VB_UNSOL receives; replies
 * need no credit, each unsolicited message (EVICT, ERROR, ALLOC refresh
 * with id 0) takes one of VB_UNSOL, and the client hands them back in the
 * immediate data (network order) of its SENDs.
 *
 * Threading: constants only.
 */
#ifndef CNM_RDMA_VERBS_WIRE_H
#define CNM_RDMA_VERBS_WIRE_H

#define VB_CREDITS 32
#define VB_UNSOL   32
#define VB_MSG	   512

#endif

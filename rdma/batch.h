/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * batch - hybrid batching, the paper's first technique, shared by every
 * backend.
 *
 * One multi-producer queue per donor connection. A submitter that finds
 * the queue idle becomes the leader: it takes everything queued (and what
 * arrives meanwhile), forms operations and posts them in chains, outside
 * the lock, until the queue is empty. Other submitters only append and
 * return. No timer ever delays a request: batches form from concurrency
 * alone.
 *
 * Forming (batch_form, a pure function): ios of the same direction whose
 * ranges are contiguous in the same slab merge into one operation, up to
 * max_op_bytes and max_ios_per_op (an RDMA WR's max_sge); operations that
 * do not merge go into the same chain, up to max_chain operations. Two ios
 * that overlap are never reordered. An io whose dir is neither XPORT_READ
 * nor XPORT_WRITE is an opaque backend entry (tcp.c queues its control
 * messages so): an operation of its own that nothing is moved across.
 *
 * Threading: batch_submit() from any thread; post() runs in whichever
 * submitter is the leader, never under the queue lock, one leader at a
 * time per queue (so post() may use the connection's send side without a
 * lock of its own).
 */
#ifndef CNM_RDMA_BATCH_H
#define CNM_RDMA_BATCH_H

#include "rdma/xport.h"

#include <pthread.h>
#include <stdbool.h>

struct batch_limits {
	unsigned int max_chain;	     /* operations per post */
	unsigned int max_op_bytes;   /* bytes per merged operation */
	unsigned int max_ios_per_op; /* e.g. max_sge; 0 = unlimited */
};

/* One wire operation: a merged run of ios, in offset order. */
struct batch_op {
	uint8_t dir;
	uint32_t slab;
	uint64_t off;
	uint32_t len;
	struct xport_io *ios; /* linked through ->next, NULL-terminated */
	unsigned int nios;
};

/*
 * Takes ios from *list (linked by ->next, in submission order) and fills
 * ops[0..return) with at most lim->max_chain operations; *list is left
 * pointing at what did not fit. Pure; unit-tested.
 */
unsigned int batch_form(struct xport_io **list, const struct batch_limits *lim,
			struct batch_op *ops);

typedef void (*batch_post_fn)(void *ctx, struct batch_op *ops,
			      unsigned int nops);

struct batch_queue {
	pthread_mutex_t lock;
	struct xport_io *head, *tail; /* protected by lock */
	int leader;		      /* protected by lock */
	struct batch_limits lim;
	batch_post_fn post;
	void *ctx;
	struct batch_op *ops; /* max_chain entries, used by the leader only */
};

int batch_queue_init(struct batch_queue *q, const struct batch_limits *lim,
		     batch_post_fn post, void *ctx);
void batch_queue_destroy(struct batch_queue *q);
void batch_submit(struct batch_queue *q, struct xport_io *io);
/* Nothing queued and no leader posting: a snapshot, any thread. */
bool batch_idle(struct batch_queue *q);
/* Queues io and the ios linked from it by ->next (NULL-terminated) at
 * once, so a leader forms them into one chain where they fit. */
void batch_submit_chain(struct batch_queue *q, struct xport_io *io);

#endif

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * batch - hybrid batching: forming operations from queued ios, and the
 * leader-elected multi-producer queue that posts them.
 *
 * Forming rules (batch_form):
 *   - an io merges into an operation of the chain being formed when it has
 *     the same direction and slab and its range touches the operation's
 *     range exactly at one end (appended or prepended), the merged length
 *     stays within max_op_bytes and the io count within max_ios_per_op;
 *   - the search for such an operation goes from the newest operation of
 *     the chain to the oldest and stops at the first one that overlaps the
 *     io: merging into an operation places the io before every later one,
 *     so it is allowed only when no later operation overlaps it. Two ios
 *     that overlap thus keep their submission order;
 *   - an io whose dir is neither XPORT_READ nor XPORT_WRITE is an opaque
 *     entry of the backend (a control message): it is never merged and is
 *     a barrier nothing is moved across;
 *   - forming stops when an io does not merge and the chain already holds
 *     max_chain operations; that io and what follows stay in the list.
 *
 * While forming, an operation's ios form a circular list whose ->ios
 * pointer is the tail (tail->next is the head), so appending and
 * prepending are O(1); the lists are opened up before returning.
 */
#include "rdma/batch.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#define BATCH_DEF_CHAIN	  32
#define BATCH_DEF_OP_SIZE (512u << 10)

static int is_data(const struct xport_io *io)
{
	return io->dir == XPORT_READ || io->dir == XPORT_WRITE;
}

static int op_overlaps(const struct batch_op *op, const struct xport_io *io)
{
	if (!is_data(io) || (op->dir != XPORT_READ && op->dir != XPORT_WRITE))
		return 1;
	if (op->slab != io->slab)
		return 0;
	return io->off < op->off + op->len && op->off < io->off + io->len;
}

/* 1 = append, -1 = prepend, 0 = does not merge */
static int op_merges(const struct batch_op *op, const struct xport_io *io,
		     const struct batch_limits *lim)
{
	if (!is_data(io) || op->dir != io->dir || op->slab != io->slab)
		return 0;
	if ((uint64_t)op->len + io->len > lim->max_op_bytes)
		return 0;
	if (lim->max_ios_per_op && op->nios >= lim->max_ios_per_op)
		return 0;
	if (io->off == op->off + op->len)
		return 1;
	if (io->off + io->len == op->off)
		return -1;
	return 0;
}

unsigned int batch_form(struct xport_io **list, const struct batch_limits *lim,
			struct batch_op *ops)
{
	unsigned int max_chain = lim->max_chain ? lim->max_chain : 1;
	struct batch_limits l = *lim;
	unsigned int n = 0, i;

	if (!l.max_op_bytes)
		l.max_op_bytes = BATCH_DEF_OP_SIZE;
	while (*list) {
		struct xport_io *io = *list;
		struct batch_op *op = NULL;
		int how = 0;

		for (i = n; i-- > 0;) {
			how = op_merges(&ops[i], io, &l);
			if (how) {
				op = &ops[i];
				break;
			}
			if (op_overlaps(&ops[i], io))
				break;
		}
		if (!op && n == max_chain)
			break;
		*list = io->next;
		if (!op) {
			op = &ops[n++];
			op->dir = io->dir;
			op->slab = io->slab;
			op->off = io->off;
			op->len = io->len;
			op->nios = 1;
			io->next = io;
			op->ios = io;
			continue;
		}
		/* circular list: op->ios is the tail, tail->next the head */
		io->next = op->ios->next;
		op->ios->next = io;
		if (how > 0)
			op->ios = io;
		else
			op->off = io->off;
		op->len += io->len;
		op->nios++;
	}
	for (i = 0; i < n; i++) {
		struct xport_io *tail = ops[i].ios;

		ops[i].ios = tail->next;
		tail->next = NULL;
	}
	return n;
}

int batch_queue_init(struct batch_queue *q, const struct batch_limits *lim,
		     batch_post_fn post, void *ctx)
{
	int ret;

	q->lim = *lim;
	if (!q->lim.max_chain)
		q->lim.max_chain = BATCH_DEF_CHAIN;
	if (!q->lim.max_op_bytes)
		q->lim.max_op_bytes = BATCH_DEF_OP_SIZE;
	q->head = q->tail = NULL;
	q->leader = 0;
	q->post = post;
	q->ctx = ctx;
	q->ops = calloc(q->lim.max_chain, sizeof(*q->ops));
	if (!q->ops)
		return -ENOMEM;
	ret = -pthread_mutex_init(&q->lock, NULL);
	if (ret)
		goto out_free_ops;
	return 0;

out_free_ops:
	free(q->ops);
	q->ops = NULL;
	return ret;
}

void batch_queue_destroy(struct batch_queue *q)
{
	assert(!q->head && !q->leader);
	pthread_mutex_destroy(&q->lock);
	free(q->ops);
	q->ops = NULL;
}

/*
 * The leader keeps a private list; before forming each chain it splices
 * whatever arrived meanwhile onto that list's end, so a chain can fill up
 * with late arrivals, and it gives up leadership only under the lock with
 * both lists empty (no io is ever left queued without a leader).
 */
bool batch_idle(struct batch_queue *q)
{
	bool idle;

	pthread_mutex_lock(&q->lock);
	idle = !q->head && !q->leader;
	pthread_mutex_unlock(&q->lock);
	return idle;
}

void batch_submit(struct batch_queue *q, struct xport_io *io)
{
	io->next = NULL;
	batch_submit_chain(q, io);
}

void batch_submit_chain(struct batch_queue *q, struct xport_io *io)
{
	struct xport_io *list = NULL, *tail = NULL, *last = io;
	unsigned int n;

	while (last->next)
		last = last->next;
	pthread_mutex_lock(&q->lock);
	if (q->tail)
		q->tail->next = io;
	else
		q->head = io;
	q->tail = last;
	if (q->leader) {
		pthread_mutex_unlock(&q->lock);
		return;
	}
	q->leader = 1;
	for (;;) {
		if (q->head) {
			if (tail)
				tail->next = q->head;
			else
				list = q->head;
			tail = q->tail;
			q->head = q->tail = NULL;
		}
		if (!list)
			break;
		pthread_mutex_unlock(&q->lock);
		n = batch_form(&list, &q->lim, q->ops);
		if (!list)
			tail = NULL;
		q->post(q->ctx, q->ops, n);
		pthread_mutex_lock(&q->lock);
	}
	q->leader = 0;
	pthread_mutex_unlock(&q->lock);
}

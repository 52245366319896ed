// SPDX-License-Identifier: GPL-2.0-or-later
/* verbs_setup - one connection's RDMA resources, see verbs_setup.h. */
#include "rdma/verbs_setup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#define VS_ACK_BATCH 64 /* channel events acked at once */

int vsetup_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static uint8_t rd_atom(int dev)
{
	return dev < VS_RD_ATOM ? (uint8_t)(dev > 0 ? dev : 0) : VS_RD_ATOM;
}

int vsetup_post_recv(struct vsetup *v, struct ibv_qp *qp, unsigned int i)
{
	const struct vsetup_cfg *cfg = v->cfg;
	struct ibv_sge sge = {
		.addr = (uintptr_t)((uint8_t *)cfg->msgs + i * cfg->msg_size),
		.length = (uint32_t)cfg->msg_size,
		.lkey = v->msg_mr->lkey,
	};
	struct ibv_recv_wr wr = { .wr_id = cfg->recv_tag | i,
				  .sg_list = &sge,
				  .num_sge = 1 };
	struct ibv_recv_wr *bad;

	return -ibv_post_recv(qp, &wr, &bad);
}

int vsetup_create(struct vsetup *v, struct rdma_cm_id *id,
		  const struct vsetup_cfg *cfg)
{
	struct ibv_qp_init_attr qa = { 0 };
	struct ibv_device_attr da;
	unsigned int i;
	int ret = 0;

	memset(v, 0, sizeof(*v));
	v->cfg = cfg;
	if (ibv_query_device(id->verbs, &da)) {
		ret = -EIO;
		goto out;
	}
	v->max_sge = (unsigned int)da.max_sge < cfg->max_send_sge
			     ? (unsigned int)da.max_sge
			     : cfg->max_send_sge;
	v->init_rd_atom = rd_atom(da.max_qp_init_rd_atom);
	v->resp_rd_atom = rd_atom(da.max_qp_rd_atom);
	v->pd = ibv_alloc_pd(id->verbs);
	v->cc = cfg->cc ? cfg->cc : ibv_create_comp_channel(id->verbs);
	if (!v->pd || !v->cc) {
		ret = -ENOMEM;
		goto out;
	}
	ret = cfg->cc ? 0 : vsetup_nonblock(v->cc->fd);
	if (ret)
		goto out;
	v->cq = ibv_create_cq(id->verbs, (int)cfg->cqe, cfg->cq_ctx, v->cc, 0);
	if (!v->cq) {
		ret = -ENOMEM;
		goto out;
	}
	if (ibv_req_notify_cq(v->cq, 0)) {
		ret = -EIO;
		goto out;
	}
	qa.send_cq = v->cq;
	qa.recv_cq = v->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = cfg->send_wr;
	qa.cap.max_recv_wr = cfg->recv_wr;
	qa.cap.max_send_sge = v->max_sge;
	qa.cap.max_recv_sge = 1;
	if (rdma_create_qp(id, v->pd, &qa)) {
		ret = errno ? -errno : -ENOMEM;
		goto out;
	}
	v->msg_mr = ibv_reg_mr(v->pd, cfg->msgs, cfg->msg_size * cfg->nmsgs,
			       IBV_ACCESS_LOCAL_WRITE);
	if (!v->msg_mr) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < cfg->nrecv && !ret; i++)
		ret = vsetup_post_recv(v, id->qp, i);
out:
	return ret;
}

void vsetup_ack_cq_event(struct vsetup *v)
{
	if (++v->cq_events >= VS_ACK_BATCH) {
		ibv_ack_cq_events(v->cq, v->cq_events);
		v->cq_events = 0;
	}
}

void vsetup_destroy_qp(struct rdma_cm_id *id)
{
	if (id && id->qp)
		rdma_destroy_qp(id);
}

void vsetup_destroy(struct vsetup *v)
{
	if (v->msg_mr)
		ibv_dereg_mr(v->msg_mr);
	v->msg_mr = NULL;
	if (v->cq) {
		if (v->cq_events)
			ibv_ack_cq_events(v->cq, v->cq_events);
		ibv_destroy_cq(v->cq);
	}
	v->cq_events = 0;
	v->cq = NULL;
	if (v->cc && v->cc != v->cfg->cc)
		ibv_destroy_comp_channel(v->cc);
	v->cc = NULL;
	if (v->pd)
		ibv_dealloc_pd(v->pd);
	v->pd = NULL;
}

struct vs_chan *vschan_get(struct vs_chan **list, struct evl *l,
			   struct ibv_context *verbs,
			   void (*ready)(struct evl_src *s, uint32_t events))
{
	struct vs_chan *ch;

	for (ch = *list; ch; ch = ch->next)
		if (ch->verbs == verbs)
			return ch;
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return NULL;
	ch->verbs = verbs;
	ch->cc = ibv_create_comp_channel(verbs);
	if (!ch->cc)
		goto out_free;
	ch->src.fd = ch->cc->fd;
	ch->src.ready = ready;
	if (vsetup_nonblock(ch->cc->fd) || evl_add(l, &ch->src, EPOLLIN))
		goto out_destroy;
	ch->next = *list;
	*list = ch;
	return ch;
out_destroy:
	ibv_destroy_comp_channel(ch->cc);
out_free:
	free(ch);
	return NULL;
}

void vschan_destroy_all(struct vs_chan **list)
{
	struct vs_chan *ch;

	while ((ch = *list)) {
		*list = ch->next;
		ibv_destroy_comp_channel(ch->cc);
		free(ch);
	}
}

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * serve - one request handler for every donor listener.
 *
 *   phase HELLO:  HELLO -> hs_donor_hello() -> reply (nonce, proof)
 *   phase AUTH:   AUTH  -> hs_donor_auth() (key; RESUME: the session's
 *                       secret) -> same owner? -> session_attach()
 *                       -> ops->authenticated() -> AUTH reply
 *   phase READY:  QUERY, ALLOC (quota; + ops->slab_add), FREE
 *                 (ops->slab_del first), HEARTBEAT, RECLAIM (operator),
 *                 READ/WRITE (ops->io)
 */
#include "donor/serve.h"

#include "common/log.h"
#include "common/service.h"
#include "rdma/handshake.h"

#include <errno.h>
#include <string.h>

void dconn_init(struct dconn *c, const struct dconn_ops *ops, struct donor *d,
		const struct auth_keyring *kr, uint32_t caps, const char *kind)
{
	c->ops = ops;
	c->d = d;
	memset(&c->hs, 0, sizeof(c->hs));
	c->hs.kr = kr;
	c->caps = caps;
	c->kind = kind;
	c->phase = DMSG_HELLO;
	c->s = NULL;
}

void dconn_fail(struct dconn *c, uint64_t id, int err, const char *why)
{
	LOG_RATELIMITED(LOG_WARNING, "%s %s: %s; closing", c->kind, c->sc.peer,
			why);
	c->ops->error(c, id, (uint32_t)(err < 0 ? -err : err), why);
}

static const char *refusal(int err)
{
	return err == -EFAULT	? "range outside the slab"
	       : err == -EINVAL ? "slab not held by this client"
				: strerror(-err);
}

void dconn_io_refused(struct dconn *c, const struct proto_hdr *h,
		      const struct wire_io *io, int err)
{
	LOG_RATELIMITED(
		LOG_WARNING, "%s %s: %s slab %u off %llu len %u refused: %s",
		c->kind, c->sc.peer, h->op == PROTO_OP_READ ? "read" : "write",
		io->slab, (unsigned long long)io->off, io->len, refusal(err));
}

void dconn_close(struct dconn *c)
{
	if (c->s)
		session_detach(c->s, &c->sc);
	c->s = NULL;
	hs_donor_wipe(&c->hs);
	explicit_bzero(c->old_secret, sizeof(c->old_secret));
}

/* The identity's name for logs. */
static const char *who(const struct auth_ident *id)
{
	return id ? id->name : "(keyless)";
}

static const char *hello_refusal(uint32_t status)
{
	return status == EPROTONOSUPPORT ? "unsupported protocol version"
	       : status == EACCES ? "no key, or an identity we do not know"
	       : status == EINVAL ? "slab size not possible"
	       : status == EUSERS ? "too many clients"
				  : strerror((int)status);
}

static int do_hello(struct dconn *c, const struct proto_hdr *h,
		    const struct wire_hello *in)
{
	struct wire_hello wire;
	uint32_t status;
	int ret;

	c->resume = session_lookup(c->d, in->session, &c->owner, c->old_secret);
	status = hs_donor_hello(&c->hs, donor_caps(c->d) | c->caps, c->resume,
				in);
	if (status) {
		/* log first: whoever reads the reply may look for the line */
		LOG_RATELIMITED(LOG_WARNING, "%s %s: hello refused: %s",
				c->kind, c->sc.peer, hello_refusal(status));
		ret = c->ops->reply(c, h, status, NULL, 0);
		return ret ? ret : -(int)status;
	}
	wire = c->hs.out;
	proto_hello_swap(&wire);
	c->phase = DMSG_AUTH;
	return c->ops->reply(c, h, 0, &wire, sizeof(wire));
}

static int do_auth(struct dconn *c, const struct proto_hdr *h,
		   const struct wire_auth *auth)
{
	struct session_bind b = { .resume = c->resume,
				  .old_secret = c->old_secret,
				  .secret = c->hs.secret };
	uint32_t status;
	int ret;

	b.ident = c->hs.ident;
	status = hs_donor_auth_key(&c->hs, auth);
	if (status) {
		LOG_RATELIMITED(LOG_WARNING,
				"%s %s: authentication failed (wrong key)",
				c->kind, c->sc.peer);
		goto out_refuse;
	}
	/* a session id alone is no bearer token: it is its creator's ... */
	if (c->resume && c->owner != b.ident) {
		status = EACCES;
		LOG_RATELIMITED(LOG_WARNING,
				"%s %s: session belongs to identity %s, not "
				"%s: refused",
				c->kind, c->sc.peer, who(c->owner),
				who(b.ident));
		goto out_refuse;
	}
	/* ... and takes the secret only its creator holds */
	status = hs_donor_auth(&c->hs, c->resume ? c->old_secret : NULL, auth);
	if (status) {
		LOG_RATELIMITED(LOG_WARNING,
				"%s %s: authentication failed: no proof of the "
				"session's secret",
				c->kind, c->sc.peer);
		goto out_refuse;
	}
	/* only a proven peer reaches a session (and its EVICTs) */
	ret = session_attach(c->d, c->hs.in.session, c->hs.out.slab_size, &b,
			     &c->sc, &c->s);
	if (ret) {
		c->s = NULL;
		status = (uint32_t)-ret;
		LOG_RATELIMITED(LOG_WARNING, "%s %s: session refused: %s",
				c->kind, c->sc.peer, hello_refusal(status));
		goto out_refuse;
	}
	c->phase = DMSG_READY;
	log_debug("%s %s: authenticated as %s", c->kind, c->sc.peer,
		  who(b.ident));
	ret = c->ops->authenticated ? c->ops->authenticated(c, h) : 0;
	if (ret)
		return ret < 0 ? ret : 0;
	return c->ops->reply(c, h, 0, NULL, 0);
out_refuse:
	ret = c->ops->reply(c, h, status, NULL, 0);
	return ret ? ret : -(int)status;
}

static int do_alloc(struct dconn *c, const struct proto_hdr *h)
{
	struct wire_slab ws;
	void *addr;
	int ret;

	if (c->hs.ident && c->hs.ident->operator) {
		LOG_RATELIMITED(LOG_WARNING,
				"%s %s: alloc refused: the operator's identity "
				"holds no slabs",
				c->kind, c->sc.peer);
		return c->ops->reply(c, h, EPERM, NULL, 0);
	}
	ret = session_alloc(c->s, &ws);
	if (ret == -EDQUOT) {
		LOG_RATELIMITED(LOG_WARNING,
				"%s %s: alloc refused: identity %s is at its "
				"quota of %llu bytes",
				c->kind, c->sc.peer, who(c->hs.ident),
				(unsigned long long)c->hs.ident->quota);
		/* to the client a quota is a full donor: place elsewhere */
		return c->ops->reply(c, h, ENOSPC, NULL, 0);
	}
	if (ret) {
		LOG_RATELIMITED(LOG_WARNING, "%s %s: alloc refused: %s",
				c->kind, c->sc.peer,
				ret == -ENOSPC ? "no free slab"
					       : strerror(-ret));
		return c->ops->reply(c, h, (uint32_t)-ret, NULL, 0);
	}
	addr = (void *)(uintptr_t)ws.addr;
	ws.addr = 0; /* the address is for RDMA registration only */
	if (c->ops->slab_add) {
		ret = c->ops->slab_add(c, addr, &ws);
		if (ret) {
			LOG_RATELIMITED(LOG_WARNING,
					"%s %s: slab %u: cannot register: %s",
					c->kind, c->sc.peer, ws.slab,
					strerror(-ret));
			session_free(c->s, ws.slab);
			return c->ops->reply(c, h, ENOMEM, NULL, 0);
		}
	}
	proto_slab_swap(&ws);
	return c->ops->reply(c, h, 0, &ws, sizeof(ws));
}

static int do_ready(struct dconn *c, const struct proto_hdr *h,
		    const union dmsg_body *b)
{
	struct wire_state st;
	int ret;

	switch (h->op) {
	case PROTO_OP_READ:
	case PROTO_OP_WRITE:
		if (!c->ops->io) {
			dconn_fail(c, h->id, EOPNOTSUPP,
				   "data goes by rdma read and write on this "
				   "transport");
			return -EOPNOTSUPP;
		}
		return c->ops->io(c, h, &b->io);
	case PROTO_OP_QUERY:
		session_state(c->s, &st);
		st.caps |= c->caps;
		proto_state_swap(&st);
		return c->ops->reply(c, h, 0, &st, sizeof(st));
	case PROTO_OP_ALLOC:
		return do_alloc(c, h);
	case PROTO_OP_FREE:
		/* no remote access once the slab may be zeroed and reused */
		if (c->ops->slab_del)
			c->ops->slab_del(c, b->ref.slab);
		ret = session_free(c->s, b->ref.slab);
		if (ret)
			LOG_RATELIMITED(
				LOG_WARNING, "%s %s: free slab %u refused: %s",
				c->kind, c->sc.peer, b->ref.slab, refusal(ret));
		return c->ops->reply(c, h, (uint32_t)-ret, NULL, 0);
	case PROTO_OP_HEARTBEAT:
		return c->ops->reply(c, h, 0, NULL, 0);
	case PROTO_OP_RECLAIM:
		/* administrative: the operator's key, never a client's */
		if (c->hs.kr && c->hs.kr->n &&
		    (!c->hs.ident || !c->hs.ident->operator)) {
			LOG_RATELIMITED(LOG_WARNING,
					"%s %s: reclaim refused: identity %s "
					"is not the operator",
					c->kind, c->sc.peer, who(c->hs.ident));
			return c->ops->reply(c, h, EPERM, NULL, 0);
		}
		ret = (int)donor_reclaim(c->d, b->reclaim.bytes);
		log_notice("%s %s: reclaim of %llu bytes: asked for %d slabs "
			   "back",
			   c->kind, c->sc.peer,
			   (unsigned long long)b->reclaim.bytes, ret);
		service_status("reclaim of %llu bytes: asked clients for %d "
			       "slabs back",
			       (unsigned long long)b->reclaim.bytes, ret);
		return c->ops->reply(c, h, 0, NULL, 0);
	default:
		dconn_fail(c, h->id, EOPNOTSUPP, "unexpected opcode");
		return -EOPNOTSUPP;
	}
}

int dconn_request(struct dconn *c, const struct proto_hdr *h,
		  const union dmsg_body *b)
{
	/* dmsg_check_hdr() let only the phase's opcodes through */
	switch (c->phase) {
	case DMSG_HELLO:
		return do_hello(c, h, &b->hello);
	case DMSG_AUTH:
		return do_auth(c, h, &b->auth);
	default:
		return do_ready(c, h, b);
	}
}

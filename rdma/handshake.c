// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * handshake - HELLO/AUTH, client and donor halves, and blocking whole-
 * message I/O on stream fds.
 *
 *   client                                   donor
 *     | HELLO(v, caps|AUTH?, slab, sess, cn) -> |  hs_donor_hello()
 *     | <- HELLO reply(v, caps, slab, dn,       |
 *     |      proof_donor(sess, cn, dn))         |
 *   hs_hello_reply_check(): donor proof ok?     |
 *     | AUTH(proof_client(sess, cn, dn)) -----> |  hs_donor_auth()
 *     | <------------------------- AUTH reply   |
 */
#include "rdma/handshake.h"

#include "common/clock.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int hs_slab_size_ok(uint64_t s)
{
	return s >= HS_SLAB_MIN && s <= HS_SLAB_MAX && !(s & (s - 1));
}

/* A peer's reply status as -errno; nonsense values become -EPROTO. */
static int status_err(uint32_t status)
{
	return status && status < 4096 ? -(int)status : -EPROTO;
}

static int has_key(const struct auth_key *key)
{
	return key && key->set;
}

void hs_hello_build(const struct hs_params *p, struct wire_hello *hello)
{
	memset(hello, 0, sizeof(*hello));
	hello->version = PROTO_VERSION;
	hello->caps = p->caps & ~PROTO_CAP_AUTH;
	if (has_key(p->key))
		hello->caps |= PROTO_CAP_AUTH;
	hello->slab_size = p->slab_size;
	memcpy(hello->session, p->session, PROTO_SESSION_LEN);
	auth_random(hello->nonce, PROTO_NONCE_LEN);
}

int hs_hello_reply_check(const struct hs_params *p,
			 const struct wire_hello *sent,
			 const struct proto_hdr *h,
			 const struct wire_hello *reply, struct wire_auth *auth,
			 struct hs_result *out, char *err, size_t errlen)
{
	static const struct auth_key nokey;
	const struct auth_key *key = p->key ? p->key : &nokey;

	if (h->op != PROTO_OP_HELLO || !(h->flags & PROTO_F_REPLY)) {
		snprintf(err, errlen, "expected a hello reply, got %s",
			 proto_op_name(h->op));
		return -EPROTO;
	}
	if (h->status) {
		switch (h->status) {
		case EPROTONOSUPPORT:
			snprintf(err, errlen,
				 "donor does not speak protocol version %d",
				 PROTO_VERSION);
			break;
		case EACCES:
			snprintf(err, errlen,
				 "donor requires a key "
				 "(--key-file) and we have none");
			break;
		case EINVAL:
			snprintf(err, errlen, "donor refused slab size %llu",
				 (unsigned long long)p->slab_size);
			break;
		default:
			snprintf(err, errlen, "donor refused hello: %s",
				 strerror((int)h->status));
		}
		return status_err(h->status);
	}
	if (!reply || h->len != sizeof(*reply)) {
		snprintf(err, errlen, "hello reply has a bad length");
		return -EPROTO;
	}
	if (reply->version != PROTO_VERSION) {
		snprintf(err, errlen,
			 "donor speaks protocol version %u, not %d",
			 reply->version, PROTO_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (has_key(key)) {
		if (!(reply->caps & PROTO_CAP_AUTH)) {
			snprintf(err, errlen,
				 "donor has no key but we have one; refusing "
				 "an unauthenticated donor");
			return -EACCES;
		}
		if (auth_check(key, AUTH_DONOR, sent->session, sent->nonce,
			       reply->nonce, reply->proof)) {
			snprintf(err, errlen,
				 "donor failed to prove the key (wrong key)");
			return -EACCES;
		}
	} else if (reply->caps & PROTO_CAP_AUTH) {
		snprintf(err, errlen,
			 "donor requires a key (--key-file) and we have none");
		return -EACCES;
	}
	if (reply->slab_size != p->slab_size) {
		snprintf(err, errlen, "donor granted slab size %llu, not %llu",
			 (unsigned long long)reply->slab_size,
			 (unsigned long long)p->slab_size);
		return -EPROTO;
	}
	auth_proof(key, AUTH_CLIENT, sent->session, sent->nonce, reply->nonce,
		   auth->proof);
	out->slab_size = reply->slab_size;
	out->caps = reply->caps;
	out->version = reply->version;
	return 0;
}

int hs_donor_hello(const struct auth_key *key, uint32_t caps,
		   const struct wire_hello *in, struct wire_hello *reply)
{
	static const struct auth_key nokey;

	if (!key)
		key = &nokey;
	memset(reply, 0, sizeof(*reply));
	if (in->version != PROTO_VERSION)
		return EPROTONOSUPPORT;
	if (key->set && !(in->caps & PROTO_CAP_AUTH))
		return EACCES;
	if (!hs_slab_size_ok(in->slab_size))
		return EINVAL;
	reply->version = PROTO_VERSION;
	reply->caps = caps & ~PROTO_CAP_AUTH;
	if (key->set)
		reply->caps |= PROTO_CAP_AUTH;
	reply->slab_size = in->slab_size;
	memcpy(reply->session, in->session, PROTO_SESSION_LEN);
	auth_random(reply->nonce, PROTO_NONCE_LEN);
	auth_proof(key, AUTH_DONOR, in->session, in->nonce, reply->nonce,
		   reply->proof);
	return 0;
}

int hs_donor_auth(const struct auth_key *key, const struct wire_hello *in,
		  const struct wire_hello *reply, const struct wire_auth *auth)
{
	static const uint8_t zero[PROTO_PROOF_LEN];

	if (!key || !key->set)
		return memcmp(auth->proof, zero, PROTO_PROOF_LEN) ? EACCES : 0;
	return auth_check(key, AUTH_CLIENT, in->session, in->nonce,
			  reply->nonce, auth->proof)
		       ? EACCES
		       : 0;
}

static uint64_t deadline_of(unsigned int timeout_ms)
{
	return mono_ns() + (uint64_t)timeout_ms * 1000000ull;
}

/* Waits for `events` on fd until the deadline; 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	uint64_t now;
	int n;

	for (;;) {
		now = mono_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, (int)((deadline - now + 999999) / 1000000));
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int read_full_dl(int fd, void *buf, size_t len, uint64_t deadline)
{
	char *p = buf;
	ssize_t n;
	int ret;

	int sock = 1;

	while (len) {
		/* try first: data that is already here costs no poll(2) */
		n = sock ? recv(fd, p, len, MSG_DONTWAIT) : -1;
		if (n < 0 && sock && errno == ENOTSOCK)
			sock = 0;
		if (n < 0 && (!sock || errno == EAGAIN)) {
			ret = wait_fd(fd, POLLIN, deadline);
			if (ret)
				return ret;
			n = sock ? recv(fd, p, len, MSG_DONTWAIT)
				 : read(fd, p, len);
		}
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static int write_full_dl(int fd, const void *buf, size_t len, uint64_t deadline)
{
	const char *p = buf;
	ssize_t n;
	int ret;

	while (len) {
		ret = wait_fd(fd, POLLOUT, deadline);
		if (ret)
			return ret;
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		p += n;
		len -= n;
	}
	return 0;
}

int hs_read_full(int fd, void *buf, size_t len, unsigned int timeout_ms)
{
	return read_full_dl(fd, buf, len, deadline_of(timeout_ms));
}

int hs_write_full(int fd, const void *buf, size_t len, unsigned int timeout_ms)
{
	return write_full_dl(fd, buf, len, deadline_of(timeout_ms));
}

static int send_msg_dl(int fd, const struct proto_hdr *h, const void *body,
		       uint64_t deadline)
{
	uint8_t hdr[sizeof(struct wire_hdr)];
	int ret;

	proto_hdr_enc(hdr, h);
	ret = write_full_dl(fd, hdr, sizeof(hdr), deadline);
	if (!ret && h->len)
		ret = write_full_dl(fd, body, h->len, deadline);
	return ret;
}

static int recv_msg_dl(int fd, struct proto_hdr *h, void *body, size_t bodymax,
		       uint64_t deadline)
{
	uint8_t hdr[sizeof(struct wire_hdr)];
	int ret;

	ret = read_full_dl(fd, hdr, sizeof(hdr), deadline);
	if (ret)
		return ret;
	ret = proto_hdr_dec(hdr, h);
	if (ret)
		return ret;
	if (h->len > bodymax)
		return -EMSGSIZE;
	if (h->len)
		ret = read_full_dl(fd, body, h->len, deadline);
	return ret;
}

int hs_send_msg(int fd, const struct proto_hdr *h, const void *body,
		unsigned int timeout_ms)
{
	return send_msg_dl(fd, h, body, deadline_of(timeout_ms));
}

int hs_recv_msg(int fd, struct proto_hdr *h, void *body, size_t bodymax,
		unsigned int timeout_ms)
{
	return recv_msg_dl(fd, h, body, bodymax, deadline_of(timeout_ms));
}

/* Receives one reply; a donor ERROR message becomes -EPROTO with its text. */
static int recv_reply(int fd, struct proto_hdr *h, void *body, size_t bodymax,
		      uint64_t deadline, char *err, size_t errlen)
{
	char text[PROTO_ERRTEXT_MAX + 1];
	int ret;

	ret = recv_msg_dl(fd, h, text, sizeof(text) - 1, deadline);
	if (ret == -EMSGSIZE && h->op != PROTO_OP_ERROR)
		ret = -EPROTO;
	if (ret) {
		snprintf(err, errlen, "%s",
			 ret == -ETIMEDOUT    ? "donor did not answer in time"
			 : ret == -ECONNRESET ? "donor closed the connection"
					      : proto_strerror(ret));
		return ret;
	}
	if (h->op == PROTO_OP_ERROR) {
		text[h->len] = '\0';
		snprintf(err, errlen, "donor: %s", text);
		return status_err(h->status);
	}
	if (h->len > bodymax) {
		snprintf(err, errlen, "%s reply too long",
			 proto_op_name(h->op));
		return -EPROTO;
	}
	if (h->len)
		memcpy(body, text, h->len);
	return 0;
}

int hs_client(int fd, const struct hs_params *p, struct hs_result *out,
	      char *err, size_t errlen)
{
	uint64_t deadline = deadline_of(p->timeout_ms ? p->timeout_ms
						      : HS_TIMEOUT_MS_DEFAULT);
	struct wire_hello sent, wire, reply;
	struct wire_auth auth;
	struct proto_hdr h = { .op = PROTO_OP_HELLO, .id = 1 };
	int ret;

	snprintf(err, errlen, "handshake failed");
	hs_hello_build(p, &sent);
	wire = sent;
	proto_hello_swap(&wire);
	h.len = sizeof(wire);
	ret = send_msg_dl(fd, &h, &wire, deadline);
	if (ret) {
		snprintf(err, errlen, "sending hello: %s", strerror(-ret));
		goto out;
	}
	ret = recv_reply(fd, &h, &reply, sizeof(reply), deadline, err, errlen);
	if (ret)
		goto out;
	if (h.len == sizeof(reply))
		proto_hello_swap(&reply);
	ret = hs_hello_reply_check(p, &sent, &h,
				   h.len == sizeof(reply) ? &reply : NULL,
				   &auth, out, err, errlen);
	if (ret)
		goto out;
	h = (struct proto_hdr){ .op = PROTO_OP_AUTH,
				.id = 2,
				.len = sizeof(auth) };
	ret = send_msg_dl(fd, &h, &auth, deadline);
	if (ret) {
		snprintf(err, errlen, "sending auth: %s", strerror(-ret));
		goto out;
	}
	ret = recv_reply(fd, &h, NULL, 0, deadline, err, errlen);
	if (ret)
		goto out;
	if (h.op != PROTO_OP_AUTH || !(h.flags & PROTO_F_REPLY)) {
		snprintf(err, errlen, "expected an auth reply, got %s",
			 proto_op_name(h.op));
		ret = -EPROTO;
	} else if (h.status == EACCES) {
		snprintf(err, errlen, "donor refused our key (wrong key)");
		ret = -EACCES;
	} else if (h.status) {
		/* the session attaches after AUTH: its refusals come here */
		snprintf(err, errlen, "donor refused the session: %s",
			 h.status == EINVAL ? "slab size not possible"
					    : strerror((int)h.status));
		ret = status_err(h.status);
	}
out:
	if (!ret)
		err[0] = '\0';
	return ret;
}

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * handshake - HELLO/AUTH, client and donor halves, and blocking whole-
 * message I/O on stream fds.
 *
 *   client                                   donor
 *     | HELLO(v, caps, slab, sess, cn, ckx,  |
 *     |       name) -----------------------> |  hs_donor_hello()
 *     | <- HELLO reply(v, caps[+RESUME],     |
 *     |      slab, dn, dkx, proof_donor(T))  |
 *   hs_hello_reply_check(): donor proof ok?  |
 *     | AUTH(proof_client(T),                |
 *     |      [RESUME] hmac_secret(T)) -----> |  hs_donor_auth()
 *     | <------------------------ AUTH reply |
 *
 * T, the transcript, hashes every field both sides sent; the session
 * secret is X25519(ckx, dkx) hashed with T, so it exists only at the two
 * ends, and only the handshake that created a session knows it.
 */
#include "rdma/handshake.h"

#include "common/clock.h"
#include "common/sock.h"

#include <endian.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

_Static_assert(crypto_kx_PUBLICKEYBYTES == PROTO_KX_LEN, "kx key length");
_Static_assert(crypto_kx_SECRETKEYBYTES == AUTH_KEY_LEN, "kx secret length");

int hs_slab_size_ok(uint64_t s)
{
	return s >= HS_SLAB_MIN && s <= HS_SLAB_MAX && !(s & (s - 1));
}

/* A refusal's status as -errno; a refusal saying 0 is a broken peer. */
static int status_err(uint32_t status)
{
	return status ? proto_status_errno(status) : -EPROTO;
}

static int has_key(const struct auth_key *key)
{
	return key && key->set;
}

/* T: everything both sides said that matters, in one hash. */
static void transcript(const struct wire_hello *c, const struct wire_hello *d,
		       uint8_t out[AUTH_KEY_LEN])
{
	crypto_generichash_state st;
	uint32_t v32[2] = { htole32(d->version), htole32(d->caps) };
	uint64_t slab = htole64(d->slab_size);

	crypto_generichash_init(&st, NULL, 0, AUTH_KEY_LEN);
	crypto_generichash_update(&st, (const uint8_t *)"cnetmem v2", 10);
	crypto_generichash_update(&st, c->session, PROTO_SESSION_LEN);
	crypto_generichash_update(&st, c->nonce, PROTO_NONCE_LEN);
	crypto_generichash_update(&st, c->kx, PROTO_KX_LEN);
	crypto_generichash_update(&st, (const uint8_t *)c->name,
				  PROTO_NAME_LEN);
	crypto_generichash_update(&st, d->nonce, PROTO_NONCE_LEN);
	crypto_generichash_update(&st, d->kx, PROTO_KX_LEN);
	crypto_generichash_update(&st, (const uint8_t *)v32, sizeof(v32));
	crypto_generichash_update(&st, (const uint8_t *)&slab, sizeof(slab));
	crypto_generichash_final(&st, out, AUTH_KEY_LEN);
}

/* The session secret from the two halves of the X25519 exchange, in the
 * client's order (its rx, its tx). */
static void secret_of(const uint8_t crx[AUTH_KEY_LEN],
		      const uint8_t ctx[AUTH_KEY_LEN],
		      const uint8_t t[AUTH_KEY_LEN], uint8_t out[AUTH_KEY_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, AUTH_KEY_LEN);
	crypto_generichash_update(&st, (const uint8_t *)"cnetmem session", 15);
	crypto_generichash_update(&st, crx, AUTH_KEY_LEN);
	crypto_generichash_update(&st, ctx, AUTH_KEY_LEN);
	crypto_generichash_update(&st, t, AUTH_KEY_LEN);
	crypto_generichash_final(&st, out, AUTH_KEY_LEN);
}

/* Proof of a session's secret over T. */
static void resume_proof(const uint8_t secret[AUTH_KEY_LEN],
			 const uint8_t t[AUTH_KEY_LEN],
			 uint8_t out[PROTO_PROOF_LEN])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, secret, AUTH_KEY_LEN);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)"cnetmem resume",
				      15);
	crypto_auth_hmacsha256_update(&st, t, AUTH_KEY_LEN);
	crypto_auth_hmacsha256_final(&st, out);
}

/* The identity we claim: p->name, else the key's, else the default. */
static const char *hs_name(const struct hs_params *p)
{
	if (p->name)
		return p->name;
	if (p->key && p->key->name[0])
		return p->key->name;
	return AUTH_NAME_DEFAULT;
}

void hs_hello_build(const struct hs_params *p, struct hs_client *st)
{
	struct wire_hello *hello = &st->sent;

	memset(hello, 0, sizeof(*hello));
	hello->version = PROTO_VERSION;
	hello->caps = p->caps & ~(PROTO_CAP_AUTH | PROTO_CAP_RESUME);
	if (has_key(p->key))
		hello->caps |= PROTO_CAP_AUTH;
	hello->slab_size = p->slab_size;
	memcpy(hello->session, p->session, PROTO_SESSION_LEN);
	auth_random(hello->nonce, PROTO_NONCE_LEN);
	crypto_kx_keypair(hello->kx, st->kx_sk);
	/* NUL-padded (memset above), as the transcript hashes it */
	memcpy(hello->name, hs_name(p),
	       strnlen(hs_name(p), PROTO_NAME_LEN - 1));
}

static int hello_refused(const struct hs_params *p, uint32_t status, char *err,
			 size_t errlen)
{
	switch (status) {
	case EPROTONOSUPPORT:
		snprintf(err, errlen,
			 "donor does not speak protocol version %d",
			 PROTO_VERSION);
		break;
	case EACCES:
		snprintf(err, errlen,
			 "donor refused identity '%s' (unknown name, or "
			 "no key where it requires one)",
			 hs_name(p));
		break;
	case EINVAL:
		snprintf(err, errlen, "donor refused slab size %llu",
			 (unsigned long long)p->slab_size);
		break;
	default:
		snprintf(err, errlen, "donor refused hello: %s",
			 strerror((int)status));
	}
	return status_err(status);
}

int hs_hello_reply_check(const struct hs_params *p, struct hs_client *st,
			 const struct proto_hdr *h,
			 const struct wire_hello *reply, struct wire_auth *auth,
			 struct hs_result *out, char *err, size_t errlen)
{
	uint8_t t[AUTH_KEY_LEN], rx[AUTH_KEY_LEN], tx[AUTH_KEY_LEN];
	int ret = -EPROTO;

	memset(auth, 0, sizeof(*auth));
	if (h->op != PROTO_OP_HELLO || !(h->flags & PROTO_F_REPLY)) {
		snprintf(err, errlen, "expected a hello reply, got %s",
			 proto_op_name(h->op));
		goto out;
	}
	if (h->status) {
		ret = hello_refused(p, h->status, err, errlen);
		goto out;
	}
	if (!reply || h->len != sizeof(*reply)) {
		snprintf(err, errlen, "hello reply has a bad length");
		goto out;
	}
	if (reply->version != PROTO_VERSION) {
		snprintf(err, errlen,
			 "donor speaks protocol version %u, not %d",
			 reply->version, PROTO_VERSION);
		ret = -EPROTONOSUPPORT;
		goto out;
	}
	transcript(&st->sent, reply, t);
	ret = -EACCES;
	if (has_key(p->key)) {
		if (!(reply->caps & PROTO_CAP_AUTH)) {
			snprintf(err, errlen,
				 "donor has no key but we have one; refusing "
				 "an unauthenticated donor");
			goto out;
		}
		if (auth_check(p->key, AUTH_DONOR, t, reply->proof)) {
			snprintf(err, errlen,
				 "donor failed to prove the key (wrong key, or "
				 "not the donor)");
			goto out;
		}
	} else if (reply->caps & PROTO_CAP_AUTH) {
		snprintf(err, errlen,
			 "donor requires a key (--key-file) and we have none");
		goto out;
	}
	if (reply->slab_size != p->slab_size) {
		snprintf(err, errlen, "donor granted slab size %llu, not %llu",
			 (unsigned long long)reply->slab_size,
			 (unsigned long long)p->slab_size);
		ret = -EPROTO;
		goto out;
	}
	if (crypto_kx_client_session_keys(rx, tx, st->sent.kx, st->kx_sk,
					  reply->kx)) {
		snprintf(err, errlen, "donor sent a bad key exchange value");
		ret = -EPROTO;
		goto out;
	}
	auth_proof(p->key, AUTH_CLIENT, t, auth->proof);
	if (reply->caps & PROTO_CAP_RESUME) {
		if (!p->sess || !p->sess->have) {
			snprintf(err, errlen,
				 "donor holds a session under our id that we "
				 "cannot prove to be ours");
			goto out;
		}
		resume_proof(p->sess->secret, t, auth->resume);
	} else if (p->sess) {
		/* a new session: its secret from now on (a lost AUTH reply
		 * must not leave us without it) */
		secret_of(rx, tx, t, p->sess->secret);
		p->sess->have = 1;
	}
	out->slab_size = reply->slab_size;
	out->caps = reply->caps;
	out->version = reply->version;
	out->resumed = !!(reply->caps & PROTO_CAP_RESUME);
	ret = 0;
out:
	sodium_memzero(rx, sizeof(rx));
	sodium_memzero(tx, sizeof(tx));
	sodium_memzero(st->kx_sk, sizeof(st->kx_sk));
	return ret;
}

int hs_auth_reply_check(const struct proto_hdr *h, char *err, size_t errlen)
{
	if (h->op != PROTO_OP_AUTH || !(h->flags & PROTO_F_REPLY)) {
		snprintf(err, errlen, "expected an auth reply, got %s",
			 proto_op_name(h->op));
		return -EPROTO;
	}
	switch (h->status) {
	case 0:
		return 0;
	case EACCES:
		snprintf(err, errlen,
			 "donor refused our key, or the session is another "
			 "client's");
		return -EACCES;
	case EINVAL:
		/* the session attaches after AUTH: its refusals come here */
		snprintf(err, errlen,
			 "donor refused the session: slab size not possible");
		return -EINVAL;
	default:
		snprintf(err, errlen, "donor refused the session: %s",
			 strerror((int)h->status));
		return status_err(h->status);
	}
}

int hs_donor_hello(struct hs_donor *hd, uint32_t caps, int resume,
		   const struct wire_hello *in)
{
	struct wire_hello *reply = &hd->out;
	int keyed = hd->kr && hd->kr->n;

	hd->in = *in;
	hd->ident = NULL;
	memset(reply, 0, sizeof(*reply));
	if (in->version != PROTO_VERSION)
		return EPROTONOSUPPORT;
	if (keyed) {
		hd->ident = auth_keyring_find(hd->kr, in->name);
		if (!hd->ident || !(in->caps & PROTO_CAP_AUTH))
			return EACCES;
	} else if (in->caps & PROTO_CAP_AUTH) {
		/* a keyless donor cannot prove a key: say so at once */
		return EACCES;
	}
	if (!hs_slab_size_ok(in->slab_size))
		return EINVAL;
	reply->version = PROTO_VERSION;
	reply->caps = caps & ~(PROTO_CAP_AUTH | PROTO_CAP_RESUME);
	if (keyed)
		reply->caps |= PROTO_CAP_AUTH;
	if (resume)
		reply->caps |= PROTO_CAP_RESUME;
	reply->slab_size = in->slab_size;
	memcpy(reply->session, in->session, PROTO_SESSION_LEN);
	auth_random(reply->nonce, PROTO_NONCE_LEN);
	crypto_kx_keypair(reply->kx, hd->kx_sk);
	transcript(in, reply, hd->transcript);
	auth_proof(hd->ident ? &hd->ident->key : NULL, AUTH_DONOR,
		   hd->transcript, reply->proof);
	return 0;
}

int hs_donor_auth_key(const struct hs_donor *hd, const struct wire_auth *auth)
{
	static const uint8_t zero[PROTO_PROOF_LEN];

	if (hd->ident)
		return auth_check(&hd->ident->key, AUTH_CLIENT, hd->transcript,
				  auth->proof)
			       ? EACCES
			       : 0;
	return sodium_memcmp(auth->proof, zero, PROTO_PROOF_LEN) ? EACCES : 0;
}

int hs_donor_auth(struct hs_donor *hd, const uint8_t *old_secret,
		  const struct wire_auth *auth)
{
	uint8_t rx[AUTH_KEY_LEN], tx[AUTH_KEY_LEN], want[PROTO_PROOF_LEN];
	int ret = EACCES;

	if (hs_donor_auth_key(hd, auth))
		goto out;
	if (hd->out.caps & PROTO_CAP_RESUME) {
		if (!old_secret)
			goto out;
		resume_proof(old_secret, hd->transcript, want);
		if (sodium_memcmp(want, auth->resume, PROTO_PROOF_LEN))
			goto out;
	}
	if (crypto_kx_server_session_keys(rx, tx, hd->out.kx, hd->kx_sk,
					  hd->in.kx))
		goto out;
	/* the client's (rx, tx) are our (tx, rx) */
	secret_of(tx, rx, hd->transcript, hd->secret);
	ret = 0;
out:
	sodium_memzero(rx, sizeof(rx));
	sodium_memzero(tx, sizeof(tx));
	sodium_memzero(want, sizeof(want));
	sodium_memzero(hd->kx_sk, sizeof(hd->kx_sk));
	return ret;
}

void hs_donor_wipe(struct hs_donor *hd)
{
	sodium_memzero(hd->kx_sk, sizeof(hd->kx_sk));
	sodium_memzero(hd->secret, sizeof(hd->secret));
}

/* The sock.h loops, with a peer that closed on our send called a reset
 * as on a receive (the errors handshake.h promises). */
static int read_full_dl(int fd, void *buf, size_t len, uint64_t deadline)
{
	int ret = sock_recv_all(fd, buf, len, deadline);

	return ret == -EPIPE ? -ECONNRESET : ret;
}

static int write_full_dl(int fd, const void *buf, size_t len, uint64_t deadline)
{
	int ret = sock_send_all(fd, buf, len, deadline);

	return ret == -EPIPE ? -ECONNRESET : ret;
}

int hs_read_full(int fd, void *buf, size_t len, unsigned int timeout_ms)
{
	return read_full_dl(fd, buf, len, deadline_after_ms(timeout_ms));
}

int hs_write_full(int fd, const void *buf, size_t len, unsigned int timeout_ms)
{
	return write_full_dl(fd, buf, len, deadline_after_ms(timeout_ms));
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
	return send_msg_dl(fd, h, body, deadline_after_ms(timeout_ms));
}

int hs_recv_msg(int fd, struct proto_hdr *h, void *body, size_t bodymax,
		unsigned int timeout_ms)
{
	return recv_msg_dl(fd, h, body, bodymax, deadline_after_ms(timeout_ms));
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
	uint64_t deadline = deadline_after_ms(
		p->timeout_ms ? p->timeout_ms : HS_TIMEOUT_MS_DEFAULT);
	struct wire_hello wire, reply;
	struct wire_auth auth;
	struct proto_hdr h = { .op = PROTO_OP_HELLO, .id = 1 };
	struct hs_client st;
	int ret;

	snprintf(err, errlen, "handshake failed");
	hs_hello_build(p, &st);
	wire = st.sent;
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
	ret = hs_hello_reply_check(p, &st, &h,
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
	if (!ret)
		ret = hs_auth_reply_check(&h, err, errlen);
out:
	if (!ret)
		err[0] = '\0';
	return ret;
}

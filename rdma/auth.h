/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * auth - keys, identities and the proofs of the handshake (rdma/proto.h).
 *
 * A client is known by an identity: a name and a pre-shared key (a key
 * file). A donor holds a keyring of identities, each with a slab quota;
 * the identity named AUTH_OPERATOR is the operator's, the only one allowed
 * administrative requests (RECLAIM). Both sides prove the identity's key:
 * the donor first, each proof an HMAC over the exchange's transcript with a
 * label per direction, so no proof can be replayed, reflected or moved to
 * another exchange. A session's secret proves a reconnecting client is the
 * one that created the session.
 *
 * Threading: auth_init() once before threads; the rest any thread.
 */
#ifndef CNM_RDMA_AUTH_H
#define CNM_RDMA_AUTH_H

#include "rdma/proto.h"

#include <stddef.h>
#include <stdint.h>

#define AUTH_KEY_LEN	  32

#define AUTH_NAME_DEFAULT "default" /* the identity of --key-file */
#define AUTH_OPERATOR	  "operator"

/* A credential: a key and, on the client, the identity it is for. */
struct auth_key {
	uint8_t bytes[AUTH_KEY_LEN];
	int set;		   /* 0: no key (--insecure on both sides) */
	char name[PROTO_NAME_LEN]; /* client: identity; "": "default" */
};

struct auth_ident {
	char name[PROTO_NAME_LEN]; /* NUL-terminated */
	struct auth_key key;
	uint64_t quota; /* bytes of slabs its sessions may hold; 0: no limit */
	int operator;	/* may send RECLAIM */
};

/* A donor's identities; n == 0: keyless (--insecure). */
struct auth_keyring {
	struct auth_ident *v; /* owned by whoever filled it */
	unsigned int n;
};

enum auth_side { AUTH_DONOR, AUTH_CLIENT };

/* Initialises libsodium; 0 or -EIO. */
int auth_init(void);
/*
 * Loads a key file (any content, at least 16 bytes, hashed to the key).
 * Refuses a file readable or writable by group or others (-EPERM), an
 * empty or short one or anything but a regular file (-EINVAL; a FIFO
 * does not hang it). err gets a sentence for the user.
 */
int auth_key_load(const char *path, struct auth_key *key, char *err,
		  size_t errlen);
void auth_random(void *buf, size_t len);
/* 1 if name is a valid identity name: 1..31 of [A-Za-z0-9._-]. */
int auth_name_ok(const char *name);
/* The identity called name (a wire field, maybe not NUL-terminated), or
 * NULL. */
const struct auth_ident *auth_keyring_find(const struct auth_keyring *kr,
					   const char name[PROTO_NAME_LEN]);
/* The proof `side` sends over transcript; all zeros when key is not set. */
void auth_proof(const struct auth_key *key, enum auth_side side,
		const uint8_t transcript[AUTH_KEY_LEN],
		uint8_t proof[PROTO_PROOF_LEN]);
/* 0 if `proof` is what `side` must send, else -EACCES (constant time). */
int auth_check(const struct auth_key *key, enum auth_side side,
	       const uint8_t transcript[AUTH_KEY_LEN],
	       const uint8_t proof[PROTO_PROOF_LEN]);

#endif

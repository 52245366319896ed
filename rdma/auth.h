/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * auth - the pre-shared key and the challenge-response proofs of the
 * handshake (rdma/proto.h). Both sides prove the key: the donor over the
 * client's nonce, the client over the donor's, each proof bound to both
 * nonces, the session id and the direction, so no proof can be replayed
 * or reflected.
 *
 * Threading: auth_init() once before threads; the rest any thread.
 */
#ifndef CNM_RDMA_AUTH_H
#define CNM_RDMA_AUTH_H

#include "rdma/proto.h"

#include <stddef.h>
#include <stdint.h>

#define AUTH_KEY_LEN 32

struct auth_key {
	uint8_t bytes[AUTH_KEY_LEN];
	int set; /* 0: no key (insecure, loopback only for a donor) */
};

enum auth_side { AUTH_DONOR, AUTH_CLIENT };

/* Initialises libsodium; 0 or -EIO. */
int auth_init(void);
/*
 * Loads a key file (any content, at least 16 bytes, hashed to the key).
 * Refuses a file readable or writable by group or others (-EPERM), an
 * empty or short one (-EINVAL). err gets a sentence for the user.
 */
int auth_key_load(const char *path, struct auth_key *key, char *err,
		  size_t errlen);
void auth_random(void *buf, size_t len);
/* The proof `side` sends; all zeros when the key is not set. */
void auth_proof(const struct auth_key *key, enum auth_side side,
		const uint8_t session[PROTO_SESSION_LEN],
		const uint8_t client_nonce[PROTO_NONCE_LEN],
		const uint8_t donor_nonce[PROTO_NONCE_LEN],
		uint8_t proof[PROTO_PROOF_LEN]);
/* 0 if `proof` is what `side` must send, else -EACCES (constant time). */
int auth_check(const struct auth_key *key, enum auth_side side,
	       const uint8_t session[PROTO_SESSION_LEN],
	       const uint8_t client_nonce[PROTO_NONCE_LEN],
	       const uint8_t donor_nonce[PROTO_NONCE_LEN],
	       const uint8_t proof[PROTO_PROOF_LEN]);

#endif

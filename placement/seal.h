/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * seal - per-page authenticated encryption of a mount's pages (issue 13).
 *
 * A page leaves the mount only sealed: AES-256-GCM where the CPU has
 * AES instructions (crypto_aead_aes256gcm_is_available()), computed by
 * OpenSSL's EVP (twice libsodium's speed with VAES), else libsodium's
 * XChaCha20-Poly1305, with a 16-byte tag stored beside the data
 * (placement/pstore_priv.h says where). The key is drawn from the
 * kernel's RNG by seal_new() and lives only in sodium_malloc() memory
 * (locked, guarded, zeroed by seal_free()) and, expanded, in the EVP
 * contexts made from it (the daemon's memory is mlockall()ed; freeing
 * cleanses them); it is never sent or written anywhere.
 *
 * Binding: the nonce is the logical page number (64 bits, little endian)
 * followed by the page's write version (32 bits); the associated data is
 * the mount's random 16-byte id, the page number and the version. A
 * ciphertext thus verifies only for the page, version and mount it was
 * made for: another page's ciphertext, an older version of the same page
 * (rollback) or a page of another mount fail with -EBADMSG. The caller
 * never seals two different contents under one (page, version): versions
 * only grow (pstore keeps one per page).
 *
 * Threading: a struct seal is read-only after seal_new(); every call may
 * run from any thread at once. No call allocates or blocks.
 */
#ifndef CNM_PLACEMENT_SEAL_H
#define CNM_PLACEMENT_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define SEAL_TAG     16u
#define SEAL_PAGE    4096u
#define SEAL_ID_LEN  16u
#define SEAL_KEY_LEN 32u

enum seal_cipher { SEAL_AES256GCM, SEAL_XCHACHA20POLY1305 };

struct seal;

/* A fresh random key and mount id; cipher as above unless force_xchacha.
 * 0, -ENOMEM, or -EIO when libsodium cannot start. */
int seal_new(int force_xchacha, struct seal **out);
/* The same with a given key and mount id (a successor resuming a mount,
 * issue 14: fs/state.h); both NULL: random, as seal_new(). */
int seal_new_from(int force_xchacha, const uint8_t key[SEAL_KEY_LEN],
		  const uint8_t id[SEAL_ID_LEN], struct seal **out);
/* Copies the key and mount id out, for a state arena's secret section
 * (mlocked, never dumped, never on disk); nowhere else. */
void seal_export(const struct seal *s, uint8_t key[SEAL_KEY_LEN],
		 uint8_t id[SEAL_ID_LEN]);
void seal_free(struct seal *s);
enum seal_cipher seal_cipher(const struct seal *s);
const char *seal_cipher_name(const struct seal *s);

/* Encrypts one SEAL_PAGE page of `in` to `out` (may be the same memory)
 * for page lpn at version ver, writes the tag. */
void seal_page(const struct seal *s, uint64_t lpn, uint32_t ver, const void *in,
	       void *out, uint8_t tag[SEAL_TAG]);
/* Verifies and decrypts; 0, or -EBADMSG with out undefined (it may hold
 * neither the old nor the right bytes: never hand it out). */
int seal_unseal(const struct seal *s, uint64_t lpn, uint32_t ver,
		const void *in, void *out, const uint8_t tag[SEAL_TAG]);

/* The nonce and associated data of (lpn, ver), for the unit tests. */
#define SEAL_NONCE_MAX 24u
#define SEAL_AD_LEN    (SEAL_ID_LEN + 12u)
void seal_nonce(uint64_t lpn, uint32_t ver, uint8_t nonce[SEAL_NONCE_MAX]);
void seal_ad(const struct seal *s, uint64_t lpn, uint32_t ver,
	     uint8_t ad[SEAL_AD_LEN]);

#endif

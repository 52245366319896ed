// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * seal - per-page AEAD: key setup in locked memory, nonce and associated
 * data from (mount, page, version), seal and unseal. See seal.h.
 *
 * AES-256-GCM runs from an expanded key state computed once
 * (crypto_aead_aes256gcm_beforenm), which is what makes it cheap per
 * page; the state is in the same sodium_malloc() block as the key.
 */
#include "placement/seal.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

struct seal {
	/* first: sodium_malloc() aligns the block, the state wants 16 */
	crypto_aead_aes256gcm_state gcm;
	uint8_t key[32];
	uint8_t id[SEAL_ID_LEN];
	enum seal_cipher cipher;
};

_Static_assert(crypto_aead_aes256gcm_NPUBBYTES == 12, "gcm nonce");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == SEAL_NONCE_MAX,
	       "xchacha nonce");
_Static_assert(crypto_aead_aes256gcm_ABYTES == SEAL_TAG, "gcm tag");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == SEAL_TAG,
	       "xchacha tag");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == 32, "key");

static void le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void seal_nonce(uint64_t lpn, uint32_t ver, uint8_t nonce[SEAL_NONCE_MAX])
{
	memset(nonce, 0, SEAL_NONCE_MAX);
	le64(nonce, lpn);
	le32(nonce + 8, ver);
}

void seal_ad(const struct seal *s, uint64_t lpn, uint32_t ver,
	     uint8_t ad[SEAL_AD_LEN])
{
	memcpy(ad, s->id, SEAL_ID_LEN);
	le64(ad + SEAL_ID_LEN, lpn);
	le32(ad + SEAL_ID_LEN + 8, ver);
}

int seal_new(int force_xchacha, struct seal **out)
{
	struct seal *s;

	if (sodium_init() < 0)
		return -EIO;
	/* guarded pages, mlock()ed, never swapped or dumped */
	s = sodium_malloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	memset(s, 0, sizeof(*s));
	randombytes_buf(s->key, sizeof(s->key));
	randombytes_buf(s->id, sizeof(s->id));
	s->cipher = SEAL_XCHACHA20POLY1305;
	if (!force_xchacha && crypto_aead_aes256gcm_is_available()) {
		s->cipher = SEAL_AES256GCM;
		crypto_aead_aes256gcm_beforenm(&s->gcm, s->key);
	}
	*out = s;
	return 0;
}

void seal_free(struct seal *s)
{
	if (s)
		sodium_free(s); /* zeroes the block first */
}

enum seal_cipher seal_cipher(const struct seal *s)
{
	return s->cipher;
}

const char *seal_cipher_name(const struct seal *s)
{
	return s->cipher == SEAL_AES256GCM ? "aes256gcm" : "xchacha20poly1305";
}

void seal_page(const struct seal *s, uint64_t lpn, uint32_t ver, const void *in,
	       void *out, uint8_t tag[SEAL_TAG])
{
	uint8_t nonce[SEAL_NONCE_MAX], ad[SEAL_AD_LEN];

	seal_nonce(lpn, ver, nonce);
	seal_ad(s, lpn, ver, ad);
	if (s->cipher == SEAL_AES256GCM)
		crypto_aead_aes256gcm_encrypt_detached_afternm(
			out, tag, NULL, in, SEAL_PAGE, ad, sizeof(ad), NULL,
			nonce, &s->gcm);
	else
		crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
			out, tag, NULL, in, SEAL_PAGE, ad, sizeof(ad), NULL,
			nonce, s->key);
}

int seal_unseal(const struct seal *s, uint64_t lpn, uint32_t ver,
		const void *in, void *out, const uint8_t tag[SEAL_TAG])
{
	uint8_t nonce[SEAL_NONCE_MAX], ad[SEAL_AD_LEN];
	int ret;

	seal_nonce(lpn, ver, nonce);
	seal_ad(s, lpn, ver, ad);
	if (s->cipher == SEAL_AES256GCM)
		ret = crypto_aead_aes256gcm_decrypt_detached_afternm(
			out, NULL, in, SEAL_PAGE, tag, ad, sizeof(ad), nonce,
			&s->gcm);
	else
		ret = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
			out, NULL, in, SEAL_PAGE, tag, ad, sizeof(ad), nonce,
			s->key);
	return ret ? -EBADMSG : 0;
}

// SPDX-License-Identifier: GPL-2.0-or-later
/* placement/seal.h: the per-page AEAD, for both ciphers. */
#include "placement/seal.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PG SEAL_PAGE

static void fill(unsigned char *p, unsigned int seed)
{
	for (unsigned int i = 0; i < PG; i++)
		p[i] = (unsigned char)(seed * 131 + i * 7);
}

static struct seal *mk(int i)
{
	struct seal *s = NULL;

	ck_assert_int_eq(seal_new(i, &s), 0);
	ck_assert_ptr_nonnull(s);
	return s;
}

START_TEST(nonce_and_ad_carry_page_and_version_little_endian)
{
	struct seal *s = mk(_i);
	unsigned char n[SEAL_NONCE_MAX], ad1[SEAL_AD_LEN], ad2[SEAL_AD_LEN];
	static const unsigned char want[12] = { 0x08, 0x07, 0x06, 0x05,
						0x04, 0x03, 0x02, 0x01,
						0xdd, 0xcc, 0xbb, 0xaa };

	seal_nonce(0x0102030405060708ull, 0xaabbccddu, n);
	ck_assert_mem_eq(n, want, 12);
	for (unsigned int i = 12; i < SEAL_NONCE_MAX; i++)
		ck_assert_uint_eq(n[i], 0);
	seal_ad(s, 0x0102030405060708ull, 0xaabbccddu, ad1);
	ck_assert_mem_eq(ad1 + SEAL_ID_LEN, want, 12);
	seal_ad(s, 0x0102030405060708ull, 0xaabbccdcu, ad2);
	ck_assert_mem_ne(ad1, ad2, SEAL_AD_LEN);
	seal_free(s);
}
END_TEST

START_TEST(sealed_page_hides_the_data_and_opens_to_the_same_bytes)
{
	struct seal *s = mk(_i);
	unsigned char in[PG], c[PG], out[PG], tag[SEAL_TAG];

	fill(in, 1);
	memcpy(in + 100, "SECRET-MARKER", 13);
	seal_page(s, 42, 7, in, c, tag);
	ck_assert_ptr_null(memmem(c, PG, "SECRET-MARKER", 13));
	ck_assert_int_eq(seal_unseal(s, 42, 7, c, out, tag), 0);
	ck_assert_mem_eq(out, in, PG);
	/* in place, both ways */
	memcpy(out, in, PG);
	seal_page(s, 42, 7, out, out, tag);
	ck_assert_mem_eq(out, c, PG);
	ck_assert_int_eq(seal_unseal(s, 42, 7, out, out, tag), 0);
	ck_assert_mem_eq(out, in, PG);
	seal_free(s);
}
END_TEST

START_TEST(a_flipped_bit_in_data_or_tag_fails)
{
	struct seal *s = mk(_i);
	unsigned char in[PG], c[PG], out[PG], tag[SEAL_TAG];

	fill(in, 2);
	seal_page(s, 3, 1, in, c, tag);
	c[4095] ^= 0x01;
	ck_assert_int_eq(seal_unseal(s, 3, 1, c, out, tag), -EBADMSG);
	c[4095] ^= 0x01;
	tag[0] ^= 0x80;
	ck_assert_int_eq(seal_unseal(s, 3, 1, c, out, tag), -EBADMSG);
	tag[0] ^= 0x80;
	ck_assert_int_eq(seal_unseal(s, 3, 1, c, out, tag), 0);
	seal_free(s);
}
END_TEST

START_TEST(an_older_version_of_the_page_fails)
{
	struct seal *s = mk(_i);
	unsigned char in[PG], c1[PG], c2[PG], out[PG], t1[SEAL_TAG],
		t2[SEAL_TAG];

	fill(in, 3);
	seal_page(s, 9, 1, in, c1, t1);
	fill(in, 4);
	seal_page(s, 9, 2, in, c2, t2);
	/* the donor hands back version 1 when we expect 2: rollback */
	ck_assert_int_eq(seal_unseal(s, 9, 2, c1, out, t1), -EBADMSG);
	ck_assert_int_eq(seal_unseal(s, 9, 2, c2, out, t2), 0);
	seal_free(s);
}
END_TEST

START_TEST(another_pages_ciphertext_fails)
{
	struct seal *s = mk(_i);
	unsigned char in[PG], c[PG], out[PG], tag[SEAL_TAG];

	fill(in, 5);
	seal_page(s, 10, 1, in, c, tag);
	ck_assert_int_eq(seal_unseal(s, 11, 1, c, out, tag), -EBADMSG);
	ck_assert_int_eq(seal_unseal(s, 10, 1, c, out, tag), 0);
	seal_free(s);
}
END_TEST

START_TEST(another_mounts_ciphertext_fails)
{
	struct seal *a = mk(_i), *b = mk(_i);
	unsigned char in[PG], c[PG], out[PG], tag[SEAL_TAG];

	fill(in, 6);
	seal_page(a, 1, 1, in, c, tag);
	ck_assert_int_eq(seal_unseal(b, 1, 1, c, out, tag), -EBADMSG);
	seal_free(a);
	seal_free(b);
}
END_TEST

START_TEST(the_cipher_is_aes_gcm_where_available_else_xchacha)
{
	struct seal *s = mk(0), *x = mk(1);

	ck_assert_int_eq(seal_cipher(x), SEAL_XCHACHA20POLY1305);
	ck_assert_str_eq(seal_cipher_name(x), "xchacha20poly1305");
	ck_assert(seal_cipher(s) == SEAL_AES256GCM ||
		  seal_cipher(s) == SEAL_XCHACHA20POLY1305);
	seal_free(s);
	seal_free(x);
}
END_TEST

static struct seal *shared;

static void *seal_many(void *arg)
{
	unsigned int t = (unsigned int)(uintptr_t)arg;
	unsigned char in[PG], c[PG], out[PG], tag[SEAL_TAG];
	uintptr_t bad = 0;

	for (unsigned int i = 0; i < 2000; i++) {
		uint64_t lpn = (uint64_t)t << 32 | i;

		fill(in, t * 7919 + i);
		seal_page(shared, lpn, i, in, c, tag);
		bad += seal_unseal(shared, lpn, i, c, out, tag) != 0 ||
		       memcmp(in, out, PG) != 0;
	}
	return (void *)bad;
}

START_TEST(many_threads_at_once_seal_and_open_right)
{
	enum { T = 48 }; /* more threads than cipher contexts */
	pthread_t th[T];

	shared = mk(_i);
	for (uintptr_t t = 0; t < T; t++)
		ck_assert_int_eq(
			pthread_create(&th[t], NULL, seal_many, (void *)t), 0);
	for (int t = 0; t < T; t++) {
		void *bad;

		pthread_join(th[t], &bad);
		ck_assert_ptr_null(bad);
	}
	seal_free(shared);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("seal");

	/* _i = 0: the default cipher; 1: XChaCha20-Poly1305 */
	cnm_check_tcase(
		s, "seal", &(const struct cnm_tcase_opt){ .loop = 2 },
		CNM_TESTS(
			nonce_and_ad_carry_page_and_version_little_endian,
			sealed_page_hides_the_data_and_opens_to_the_same_bytes,
			a_flipped_bit_in_data_or_tag_fails,
			an_older_version_of_the_page_fails,
			another_pages_ciphertext_fails,
			another_mounts_ciphertext_fails,
			many_threads_at_once_seal_and_open_right));
	cnm_check_tcase(
		s, "cipher", NULL,
		CNM_TESTS(the_cipher_is_aes_gcm_where_available_else_xchacha));
	return cnm_check_run(s);
}

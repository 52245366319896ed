// SPDX-License-Identifier: GPL-2.0-or-later
/* auth - key files and HMAC-SHA256 challenge-response proofs. */
#include "rdma/auth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE_MAX 4096
#define KEY_FILE_MIN 16

int auth_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

int auth_key_load(const char *path, struct auth_key *key, char *err,
		  size_t errlen)
{
	unsigned char buf[KEY_FILE_MAX];
	struct stat st;
	ssize_t n;
	int fd, ret = 0;

	memset(key, 0, sizeof(*key));
	/* O_NONBLOCK: a FIFO given as key file must not hang us */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "key file %s: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "key file %s: %s", path, strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		snprintf(err, errlen, "key file %s: not a regular file", path);
		goto out_close;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		ret = -EPERM;
		snprintf(
			err, errlen,
			"key file %s: readable by group or others (mode %04o); "
			"run chmod 600 %s",
			path, (unsigned int)st.st_mode & 07777, path);
		goto out_close;
	}
	n = read(fd, buf, sizeof(buf));
	if (n < 0) {
		ret = -errno;
		snprintf(err, errlen, "key file %s: %s", path, strerror(errno));
		goto out_close;
	}
	/* a trailing newline is not part of the secret */
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n < KEY_FILE_MIN) {
		ret = -EINVAL;
		snprintf(err, errlen,
			 "key file %s: too short (%zd bytes, need %d); "
			 "make one with: head -c 32 /dev/urandom | base64 > %s",
			 path, n, KEY_FILE_MIN, path);
		goto out_wipe;
	}
	crypto_generichash(key->bytes, sizeof(key->bytes), buf, n,
			   (const unsigned char *)"cnetmem-key-v1", 14);
	key->set = 1;
out_wipe:
	sodium_memzero(buf, sizeof(buf));
out_close:
	close(fd);
	return ret;
}

void auth_random(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

int auth_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (!n || n >= PROTO_NAME_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return 0;
	return 1;
}

const struct auth_ident *auth_keyring_find(const struct auth_keyring *kr,
					   const char name[PROTO_NAME_LEN])
{
	char n[PROTO_NAME_LEN + 1];

	memcpy(n, name, PROTO_NAME_LEN);
	n[PROTO_NAME_LEN] = '\0';
	for (unsigned int i = 0; kr && i < kr->n; i++)
		if (!strcmp(kr->v[i].name, n))
			return &kr->v[i];
	return NULL;
}

void auth_proof(const struct auth_key *key, enum auth_side side,
		const uint8_t transcript[AUTH_KEY_LEN],
		uint8_t proof[PROTO_PROOF_LEN])
{
	crypto_auth_hmacsha256_state st;
	const char *label = side == AUTH_DONOR ? "cnetmem donor proof"
					       : "cnetmem client proof";

	_Static_assert(crypto_auth_hmacsha256_BYTES == PROTO_PROOF_LEN,
		       "proof length");
	if (!key || !key->set) {
		memset(proof, 0, PROTO_PROOF_LEN);
		return;
	}
	crypto_auth_hmacsha256_init(&st, key->bytes, sizeof(key->bytes));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)label,
				      strlen(label) + 1);
	crypto_auth_hmacsha256_update(&st, transcript, AUTH_KEY_LEN);
	crypto_auth_hmacsha256_final(&st, proof);
}

int auth_check(const struct auth_key *key, enum auth_side side,
	       const uint8_t transcript[AUTH_KEY_LEN],
	       const uint8_t proof[PROTO_PROOF_LEN])
{
	uint8_t want[PROTO_PROOF_LEN];
	int ret;

	if (!key || !key->set)
		return -EACCES;
	auth_proof(key, side, transcript, want);
	ret = sodium_memcmp(want, proof, PROTO_PROOF_LEN) ? -EACCES : 0;
	sodium_memzero(want, sizeof(want));
	return ret;
}

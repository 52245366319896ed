// SPDX-License-Identifier: GPL-2.0-or-later
/* keys - the donor's identities, loaded from its settings. */
#include "donor/keys.h"

#include "common/parse.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

int donor_client_parse(const char *spec, char *name, char *path, size_t pathlen,
		       uint64_t *quota, char *err, size_t errlen)
{
	const char *c1 = strchr(spec, ':'), *c2;
	size_t n;

	*quota = 0;
	if (!c1) {
		snprintf(err, errlen,
			 "client: '%s' is not NAME:KEYFILE[:QUOTA]", spec);
		return -EINVAL;
	}
	n = (size_t)(c1 - spec);
	if (n >= PROTO_NAME_LEN) {
		snprintf(err, errlen, "client: name in '%s' is too long", spec);
		return -EINVAL;
	}
	memcpy(name, spec, n);
	name[n] = '\0';
	if (!auth_name_ok(name) || !strcmp(name, AUTH_OPERATOR)) {
		snprintf(err, errlen,
			 "client: '%s' is not a client name (letters, digits, "
			 "'.', '_', '-'; not '%s')",
			 name, AUTH_OPERATOR);
		return -EINVAL;
	}
	c2 = strchr(c1 + 1, ':');
	n = c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1);
	if (!n || n >= pathlen) {
		snprintf(err, errlen, "client %s: no key file", name);
		return -EINVAL;
	}
	memcpy(path, c1 + 1, n);
	path[n] = '\0';
	if (c2 && parse_size(c2 + 1, quota)) {
		snprintf(err, errlen, "client %s: quota '%s' is not a size",
			 name, c2 + 1);
		return -EINVAL;
	}
	return 0;
}

/* Loads one identity into kr->v[kr->n]; 0 or -errno. */
static int add(struct auth_keyring *kr, const char *name, const char *path,
	       uint64_t quota, int operator, char * err, size_t errlen)
{
	struct auth_ident *id = &kr->v[kr->n];
	char why[400];
	int ret;

	for (unsigned int i = 0; i < kr->n; i++) {
		if (!strcmp(kr->v[i].name, name)) {
			snprintf(err, errlen, "client %s: named twice", name);
			return -EINVAL;
		}
	}
	ret = auth_key_load(path, &id->key, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "%s: %s", name, why);
		return ret;
	}
	snprintf(id->name, sizeof(id->name), "%s", name);
	id->quota = quota;
	id->operator= operator;
	kr->n++;
	return 0;
}

int donor_keyring_load(const struct donor_opts *c, struct auth_keyring *kr,
		       char *err, size_t errlen)
{
	unsigned int cap = (unsigned int)c->client.n + 2;
	char name[PROTO_NAME_LEN], path[4096];
	uint64_t quota;
	int ret = 0;

	kr->n = 0;
	kr->v = sodium_allocarray(cap, sizeof(*kr->v));
	if (!kr->v) {
		snprintf(err, errlen, "out of locked memory for keys");
		return -ENOMEM;
	}
	memset(kr->v, 0, cap * sizeof(*kr->v));
	if (c->key_file)
		ret = add(kr, AUTH_NAME_DEFAULT, c->key_file, 0, 0, err,
			  errlen);
	for (int i = 0; !ret && i < c->client.n; i++) {
		ret = donor_client_parse(c->client.v[i], name, path,
					 sizeof(path), &quota, err, errlen);
		if (!ret)
			ret = add(kr, name, path, quota, 0, err, errlen);
	}
	if (!ret && c->operator_key_file)
		ret = add(kr, AUTH_OPERATOR, c->operator_key_file, 0, 1, err,
			  errlen);
	if (ret)
		donor_keyring_free(kr);
	return ret;
}

void donor_keyring_free(struct auth_keyring *kr)
{
	if (kr->v)
		sodium_free(kr->v); /* wipes it */
	kr->v = NULL;
	kr->n = 0;
}

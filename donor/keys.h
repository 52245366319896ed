/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * keys - the donor's keyring from its settings: --key-file (identity
 * "default", no quota), each --client NAME:KEYFILE[:QUOTA] (repeatable;
 * `client = [ "NAME:KEYFILE:QUOTA", ... ];` in the config file) and
 * --operator-key-file (identity "operator", RECLAIM only, no slabs).
 * Names are unique. The identities live in locked memory (sodium_malloc).
 *
 * Threading: start-up only.
 */
#ifndef CNM_DONOR_KEYS_H
#define CNM_DONOR_KEYS_H

#include "donor/config.h"
#include "rdma/auth.h"

#include <stddef.h>

/*
 * Parses one --client value into name (PROTO_NAME_LEN), path (pathlen) and
 * quota (0: none). 0 or -EINVAL with err saying why. Pure.
 */
int donor_client_parse(const char *spec, char *name, char *path, size_t pathlen,
		       uint64_t *quota, char *err, size_t errlen);
/* Loads every key the settings name into kr (empty when none). 0 or
 * -errno with err naming the setting and the file. */
int donor_keyring_load(const struct donor_opts *c, struct auth_keyring *kr,
		       char *err, size_t errlen);
/* Wipes and frees what donor_keyring_load() filled. */
void donor_keyring_free(struct auth_keyring *kr);

#endif

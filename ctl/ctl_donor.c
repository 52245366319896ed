// SPDX-License-Identifier: GPL-2.0-or-later
/* ctl_donor - cnetmemctl's blocking connection to a donor. */
#include "ctl/ctl.h"

#include "common/parse.h"
#include "rdma/auth.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ctl_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("cnetmemctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int ctl_parse_args(int argc, char **argv, int max_pos, const char *usage,
		   struct ctl_args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--key-file") && i + 1 < argc) {
			a->key_file = argv[++i];
		} else if (!strcmp(argv[i], "--key-name") && i + 1 < argc) {
			a->key_name = argv[++i];
			if (!auth_name_ok(a->key_name)) {
				ctl_err("--key-name: '%s' is not a name",
					a->key_name);
				return -EINVAL;
			}
		} else if (!strcmp(argv[i], "--insecure")) {
			a->insecure = 1;
		} else if (!strcmp(argv[i], "--slab-size") && i + 1 < argc) {
			if (parse_size(argv[++i], &a->slab_size) ||
			    !hs_slab_size_ok(a->slab_size)) {
				ctl_err("--slab-size: '%s' is not a power of "
					"two between 1M and 1G",
					argv[i]);
				return -EINVAL;
			}
		} else if (!strncmp(argv[i], "--", 2) || a->npos >= max_pos) {
			ctl_err("unexpected argument '%s'; usage: cnetmemctl "
				"%s",
				argv[i], usage);
			return -EINVAL;
		} else {
			a->pos[a->npos++] = argv[i];
		}
	}
	if (a->npos < max_pos) {
		ctl_err("missing arguments; usage: cnetmemctl %s", usage);
		return -EINVAL;
	}
	return 0;
}

int ctl_donor_open(const char *hostport, const struct ctl_args *a,
		   struct ctl_donor *d)
{
	struct hs_params p = { 0 };
	char host[256], port[32], err[256];
	struct auth_key key = { 0 };
	int ret;

	memset(d, 0, sizeof(*d));
	d->c.fd = -1;
	d->c.timeout_ms = CTL_TIMEOUT_MS;
	if (parse_hostport(hostport, NULL, host, sizeof(host), port,
			   sizeof(port))) {
		ctl_err("'%s' is not HOST:PORT", hostport);
		return -EINVAL;
	}
	snprintf(d->addr, sizeof(d->addr), "%s", hostport);
	ret = auth_init();
	if (ret) {
		ctl_err("cannot initialise libsodium");
		return ret;
	}
	if (!a->key_file && !a->insecure) {
		ctl_err("no key: give --key-file (and --key-name), or "
			"--insecure for a donor that runs without keys");
		return -EACCES;
	}
	if (a->key_file) {
		ret = auth_key_load(a->key_file, &key, err, sizeof(err));
		if (ret) {
			ctl_err("%s", err);
			return ret;
		}
	}
	p.name = a->key_name;
	p.key = &key;
	p.slab_size = a->slab_size ? a->slab_size : HS_SLAB_MIN;
	/* a throwaway session: it never holds slabs */
	auth_random(p.session, sizeof(p.session));
	ret = dcl_open(&d->c, host, port, &p);
	if (ret)
		ctl_err("donor %s: %s", hostport, d->c.err);
	memset(&key, 0, sizeof(key));
	return ret;
}

void ctl_donor_close(struct ctl_donor *d)
{
	dcl_close(&d->c);
}

int ctl_donor_rpc(struct ctl_donor *d, uint16_t op, const void *body,
		  uint32_t len, void *out, uint32_t outmax)
{
	int ret;

	ret = dcl_call(&d->c, op, body, len, NULL, 0, out, outmax, NULL);
	if (ret && d->c.err[0])
		ctl_err("donor %s: %s", d->addr, d->c.err);
	return ret;
}

// SPDX-License-Identifier: GPL-2.0-or-later
/* ctl_donor - cnetmemctl's blocking connection to a donor. */
#include "ctl/ctl.h"

#include "common/parse.h"
#include "rdma/auth.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

static int tcp_connect(const char *host, const char *port, int *out)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1, ret;

	ret = getaddrinfo(host, port, &hints, &res);
	if (ret) {
		ctl_err("%s:%s: %s", host, port, gai_strerror(ret));
		return -EHOSTUNREACH;
	}
	ret = -ECONNREFUSED;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			ret = -errno;
			continue;
		}
		if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		ret = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		ctl_err("%s:%s: %s", host, port, strerror(-ret));
		return ret;
	}
	*out = fd;
	return 0;
}

int ctl_donor_open(const char *hostport, const struct ctl_args *a,
		   struct ctl_donor *d)
{
	struct hs_params p = { .timeout_ms = CTL_TIMEOUT_MS };
	char host[256], port[32], err[256];
	struct auth_key key = { 0 };
	int ret;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	d->next_id = 1;
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
	ret = tcp_connect(host, port, &d->fd);
	if (ret)
		goto out_key;
	p.key = &key;
	p.slab_size = a->slab_size ? a->slab_size : HS_SLAB_MIN;
	/* a throwaway session: it never holds slabs */
	auth_random(p.session, sizeof(p.session));
	ret = hs_client(d->fd, &p, &d->hs, err, sizeof(err));
	if (ret) {
		ctl_err("donor %s: %s", hostport, err);
		close(d->fd);
		d->fd = -1;
	}
out_key:
	memset(&key, 0, sizeof(key));
	return ret;
}

void ctl_donor_close(struct ctl_donor *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

int ctl_donor_rpc(struct ctl_donor *d, uint16_t op, const void *body,
		  uint32_t len, void *out, uint32_t outmax)
{
	struct proto_hdr h = { .op = op, .id = ++d->next_id, .len = len };
	char text[PROTO_ERRTEXT_MAX + 1];
	int ret;

	ret = hs_send_msg(d->fd, &h, body, CTL_TIMEOUT_MS);
	if (ret)
		return ret;
	ret = hs_recv_msg(d->fd, &h, text, sizeof(text) - 1, CTL_TIMEOUT_MS);
	if (ret)
		return ret;
	if (h.op == PROTO_OP_ERROR) {
		text[h.len] = '\0';
		ctl_err("donor %s: %s", d->addr, text);
		return h.status && h.status < 4096 ? -(int)h.status : -EPROTO;
	}
	if (h.op != op || !(h.flags & PROTO_F_REPLY) || h.len > outmax)
		return -EPROTO;
	if (h.status)
		return h.status < 4096 ? -(int)h.status : -EPROTO;
	if (h.len)
		memcpy(out, text, h.len);
	return 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctl - helpers shared by cnetmemctl's commands: talking to a donor with a
 * blocking connection (rdma/dclient.h, shared with the donor's test
 * client) and printing.
 *
 * Threading: single-threaded command-line tool.
 */
#ifndef CNM_CTL_CTL_H
#define CNM_CTL_CTL_H

#include "rdma/dclient.h"
#include "rdma/handshake.h"
#include "rdma/proto.h"

#include <stddef.h>
#include <stdint.h>

#define CTL_TIMEOUT_MS 5000

struct ctl_donor {
	struct dcl c;	/* the connection (rdma/dclient.h) */
	char addr[300]; /* "host:port" as given */
};

/* Options every donor command takes, parsed out of argv. */
struct ctl_args {
	const char *pos[4]; /* positional arguments after the command */
	int npos;
	const char *key_file;
	const char *key_name; /* NULL: the command's default identity */
	int insecure;	      /* no key: only a keyless (--insecure) donor */
	uint64_t slab_size;   /* 0: HS_SLAB_MIN */
};

/*
 * Parses "[--key-file FILE] [--key-name NAME] [--insecure]
 * [--slab-size SIZE]" and up to max_pos
 * positional arguments from argv[1..]. 0 or -EINVAL (message printed).
 */
int ctl_parse_args(int argc, char **argv, int max_pos, const char *usage,
		   struct ctl_args *a);
/* Connects and authenticates (a key file or --insecure is required);
 * 0 or -errno (message printed). */
int ctl_donor_open(const char *hostport, const struct ctl_args *a,
		   struct ctl_donor *d);
void ctl_donor_close(struct ctl_donor *d);
/* One request, one reply: 0, -status of the reply, or -errno. */
int ctl_donor_rpc(struct ctl_donor *d, uint16_t op, const void *body,
		  uint32_t len, void *out, uint32_t outmax);
/* Prints "cnetmemctl: ..." to stderr. */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

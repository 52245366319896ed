// SPDX-License-Identifier: GPL-2.0-or-later
/* cmd_donor - `cnetmemctl donor HOST:PORT`: a donor's state as JSON, and
 * `cnetmemctl donor-reclaim HOST:PORT SIZE`. */
#include "ctl/ctl.h"

#include "common/parse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int cmd_donor(int argc, char **argv);
int cmd_donor_reclaim(int argc, char **argv);

/* Prints s as a JSON string (addresses only need the basic escapes). */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		if ((unsigned char)*s >= 0x20)
			putchar(*s);
	}
	putchar('"');
}

int cmd_donor(int argc, char **argv)
{
	static const char usage[] = "donor HOST:PORT --key-file FILE "
				    "[--key-name NAME] | --insecure";
	struct ctl_donor d;
	struct wire_state st;
	struct ctl_args a;
	int ret;

	if (ctl_parse_args(argc, argv, 1, usage, &a))
		return 2;
	if (ctl_donor_open(a.pos[0], &a, &d))
		return 1;
	ret = ctl_donor_rpc(&d, PROTO_OP_QUERY, NULL, 0, &st, sizeof(st));
	ctl_donor_close(&d);
	if (ret) {
		ctl_err("donor %s: query: %s", a.pos[0], strerror(-ret));
		return 1;
	}
	proto_state_swap(&st);
	printf("{\"address\": ");
	json_str(a.pos[0]);
	printf(", \"version\": %u, \"caps\": [", d.c.hs.version);
	printf("%s", st.caps & PROTO_CAP_AUTH ? "\"auth\"" : "");
	printf("%s%s",
	       (st.caps & PROTO_CAP_AUTH) && (st.caps & PROTO_CAP_RDMA) ? ", "
									: "",
	       st.caps & PROTO_CAP_RDMA ? "\"rdma\"" : "");
	/* the query's own connection is not a client */
	printf("], \"slab_size\": %" PRIu64 ", \"total_bytes\": %" PRIu64
	       ", \"free_bytes\": %" PRIu64 ", \"total_slabs\": %u"
	       ", \"free_slabs\": %u, \"clients\": %u"
	       ", \"host_available_bytes\": %" PRIu64
	       ", \"host_trend_bytes_per_s\": %" PRId64
	       ", \"bytes_read\": %" PRIu64 ", \"bytes_written\": %" PRIu64
	       ", \"uptime_ms\": %" PRIu64 ", \"evicting\": %u}\n",
	       st.slab_size, st.total_bytes, st.free_bytes, st.total_slabs,
	       st.free_slabs, st.clients ? st.clients - 1 : 0,
	       st.host_avail_bytes, st.host_trend_bps, st.bytes_read,
	       st.bytes_written, st.uptime_ms, st.evicting);
	return 0;
}

int cmd_donor_reclaim(int argc, char **argv)
{
	static const char usage[] = "donor-reclaim HOST:PORT SIZE --key-file "
				    "FILE [--key-name NAME]";
	struct wire_reclaim r;
	struct ctl_donor d;
	struct ctl_args a;
	char sz[32];
	int ret;

	if (ctl_parse_args(argc, argv, 2, usage, &a))
		return 2;
	if (parse_size(a.pos[1], &r.bytes)) {
		ctl_err("'%s' is not a size (use e.g. 512M, 4G)", a.pos[1]);
		return 2;
	}
	format_size(r.bytes, sz, sizeof(sz));
	proto_reclaim_swap(&r);
	/* an administrative request: the operator's identity by default */
	if (!a.key_name)
		a.key_name = AUTH_OPERATOR;
	if (ctl_donor_open(a.pos[0], &a, &d))
		return 1;
	ret = ctl_donor_rpc(&d, PROTO_OP_RECLAIM, &r, sizeof(r), NULL, 0);
	ctl_donor_close(&d);
	if (ret) {
		ctl_err("donor %s: reclaim: %s", a.pos[0],
			ret == -EPERM ? "refused: needs the operator's key "
					"(--operator-key-file on the donor)"
				      : strerror(-ret));
		return 1;
	}
	printf("donor %s: asked its clients to give back %s\n", a.pos[0], sz);
	return 0;
}

// SPDX-License-Identifier: GPL-2.0-or-later
/* cmd_donor - `cnetmemctl donor HOST:PORT`: a donor's state as JSON, and
 * `cnetmemctl donor-reclaim HOST:PORT SIZE`. */
#include "ctl/ctl.h"

#include "common/parse.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define J(v) ((json_int_t)(v))

int cmd_donor(int argc, char **argv);
int cmd_donor_reclaim(int argc, char **argv);

int cmd_donor(int argc, char **argv)
{
	static const char usage[] = "donor HOST:PORT --key-file FILE "
				    "[--key-name NAME] | --insecure";
	struct ctl_donor d;
	struct wire_state st;
	json_t *root, *caps;
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
	caps = json_array();
	if (caps && (st.caps & PROTO_CAP_AUTH))
		json_array_append_new(caps, json_string("auth"));
	if (caps && (st.caps & PROTO_CAP_RDMA))
		json_array_append_new(caps, json_string("rdma"));
	/* the query's own connection is not a client */
	root = json_pack(
		"{s:s,s:I,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		"address", a.pos[0], "version", J(d.c.hs.version), "caps", caps,
		"slab_size", J(st.slab_size), "total_bytes", J(st.total_bytes),
		"free_bytes", J(st.free_bytes), "total_slabs",
		J(st.total_slabs), "free_slabs", J(st.free_slabs), "clients",
		J(st.clients ? st.clients - 1 : 0), "host_available_bytes",
		J(st.host_avail_bytes), "host_trend_bytes_per_s",
		J(st.host_trend_bps), "bytes_read", J(st.bytes_read),
		"bytes_written", J(st.bytes_written), "uptime_ms",
		J(st.uptime_ms), "evicting", J(st.evicting));
	if (!root || json_dumpf(root, stdout, 0) || putchar('\n') == EOF) {
		ctl_err("donor %s: cannot print its state", a.pos[0]);
		ret = 1;
	}
	json_decref(root);
	return ret ? 1 : 0;
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

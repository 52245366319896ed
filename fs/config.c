// SPDX-License-Identifier: GPL-2.0-or-later
/* config - cnetmem's settings table, -o rewriting and validation. */
#include "fs/config.h"

#include "common/cpu_latency.h"
#include "common/log.h"
#include "common/parse.h"
#include "rdma/auth.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const transport_choices[] = { "auto", "tcp", "rdma", NULL };
static const char *const cache_choices[] = { "writeback", "direct", NULL };
static const char *const fuse_transport_choices[] = { "auto", "uring", "dev",
						      NULL };

#define F(x) offsetof(struct fs_cfg, x)

const struct opt_def fs_opt_defs[] = {
	{ "config", 0, OPT_STR, F(config), NULL, 0, 0, NULL, "FILE",
	  "read settings from this libconfig file first" },
	{ "donor", 0, OPT_STRLIST, F(donor), NULL, 0, 0, NULL, "HOST:PORT",
	  "a donor to keep pages on (repeatable; port defaults to 7700)" },
	{ "donor-srv", 0, OPT_STRLIST, F(donor_srv), NULL, 0, 0, NULL, "NAME",
	  "donors from the DNS SRV records of NAME, watched while mounted "
	  "(repeatable)" },
	{ "donor-srv-server", 0, OPT_STR, F(donor_srv_server), NULL, 0, 0, NULL,
	  "IP[:PORT]",
	  "the DNS server to ask for donor-srv (default: /etc/resolv.conf)" },
	{ "local-memory", 0, OPT_BOOL, F(local_memory), "false", 0, 0, NULL,
	  NULL, "keep pages in this daemon's own memory (no donors)" },
	{ "size", 0, OPT_SIZE, F(size), "1G", 1 << 20, (double)(16ull << 40),
	  NULL, "SIZE", "capacity of the mount (statfs; ENOSPC beyond)" },
	{ "replicas", 0, OPT_INT, F(replicas), "1", 1, 4, NULL, "N",
	  "copies of each page, on distinct donors" },
	{ "key-file", 0, OPT_STR, F(key_file), NULL, 0, 0, NULL, "FILE",
	  "this client's key (a donor's --key-file or --client key)" },
	{ "key-name", 0, OPT_STR, F(key_name), NULL, 0, 0, NULL, "NAME",
	  "the identity the key is for (donor --client NAME); default: "
	  "default" },
	{ "insecure", 0, OPT_BOOL, F(insecure), "false", 0, 0, NULL, NULL,
	  "use donors without a key: anyone on their ports gets the pages" },
	{ "backup", 0, OPT_STR, F(backup), NULL, 0, 0, NULL, "PATH",
	  "local sparse file holding one more copy of every page" },
	{ "transport", 0, OPT_ENUM, F(transport), "auto", 0, 0,
	  transport_choices, "tcp|rdma|auto",
	  "how to reach donors (auto: rdma where a device reaches them)" },
	{ "cache", 0, OPT_ENUM, F(cache), "writeback", 0, 0, cache_choices,
	  "writeback|direct",
	  "working-set files through the page cache, or every file direct "
	  "(swap files are always direct)" },
	{ "fuse-transport", 0, OPT_ENUM, F(fuse_transport), "auto", 0, 0,
	  fuse_transport_choices, "auto|uring|dev",
	  "how FUSE requests reach the daemon: io_uring (a ring per CPU) or "
	  "/dev/fuse (auto: io_uring when libfuse and the kernel offer it)" },
	{ "foreground", 'f', OPT_BOOL, F(foreground), "false", 0, 0, NULL, NULL,
	  "stay in the foreground, log to stderr" },
	{ "options", 'o', OPT_STRLIST, F(options), NULL, 0, 0, NULL, "OPTS",
	  "mount options: cnetmem settings as name=value, others to FUSE" },
	{ "slab-size", 0, OPT_SIZE, F(slab_size), "64M", 1 << 20,
	  (double)(4ull << 30), NULL, "SIZE", "unit of placement on donors" },
	{ "threads", 0, OPT_INT, F(threads), "4", 1, 64, NULL, "N",
	  "FUSE worker threads" },
	{ "requests", 0, OPT_INT, F(requests), "32", 2, 1024, NULL, "N",
	  "preallocated 1 MiB request buffers (and 4x as many of 36 KiB)" },
	{ "io-timeout-ms", 0, OPT_INT, F(io_timeout_ms), "10000", 100, 600000,
	  NULL, "MS", "a page I/O not done by then fails (EIO)" },
	{ "ctl-timeout-ms", 0, OPT_INT, F(ctl_timeout_ms), "5000", 100, 600000,
	  NULL, "MS", "donor control calls time out after this" },
	CPU_LATENCY_OPT(F(cpu_latency_us)),
	{ "ring-poll-us", 0, OPT_INT, F(ring_poll_us), "50", -1, 10000, NULL,
	  "US",
	  "over FUSE io_uring, a ring thread receives its donor's reply "
	  "itself, "
	  "busy for up to US microseconds, then asleep on the socket (0: no "
	  "busy wait; -1: it waits for the transport's thread instead)" },
	{ "ring-batch", 0, OPT_INT, F(ring_batch), "8", 1, 64, NULL, "N",
	  "over FUSE io_uring, a ring thread keeps up to N reads and writes "
	  "of one wake-up in flight at once and replies to them before it "
	  "sleeps (1: one at a time)" },
	{ "insecure-plaintext-pages", 0, OPT_BOOL, F(plaintext_pages), "false",
	  0, 0, NULL, NULL,
	  "benchmarks and diagnostics only: pages go to donors and the backup "
	  "unencrypted and unauthenticated" },
	{ "metadata-max", 0, OPT_SIZE, F(metadata_max), "0", 0,
	  (double)(4ull << 40), NULL, "SIZE",
	  "memory for the page maps and the namespace; past it creates and "
	  "writes get ENOSPC (0: a 512-byte map leaf per 4 KiB of --size, "
	  "plus 64M)" },
	{ "rank-sample", 0, OPT_INT, F(rank_sample), "0", 0, 64, NULL, "D",
	  "donors sampled per slab placement (0: min(donors, 2R+1))" },
	{ "rank-free", 0, OPT_DOUBLE, F(rank_free), "1", 0, 1000, NULL, "W",
	  "rank weight of a donor's free fraction" },
	{ "rank-trend", 0, OPT_DOUBLE, F(rank_trend), "1", 0, 1000, NULL, "W",
	  "rank weight of the trend of what a donor can still give" },
	{ "rank-latency", 0, OPT_DOUBLE, F(rank_latency), "1", 0, 1000, NULL,
	  "W", "rank weight of a donor's measured latency" },
	{ "rank-band", 0, OPT_DOUBLE, F(rank_band), "0.02", -1, 1, NULL, "F",
	  "only donors within F of the least used sampled one are ranked "
	  "(a used fraction; -1: no band)" },
	{ "verbose", 'v', OPT_BOOL, F(debug), "false", 0, 0, NULL, NULL,
	  "log debug messages (log-level debug)" },
	LOG_LEVEL_OPT(F(log_level)),
	OPT_END,
};

const char fs_usage_line[] =
	"cnetmem [--config FILE] MOUNTPOINT [--donor HOST:PORT ...] "
	"[--local-memory] [--size SIZE] [--replicas N] [--key-file FILE "
	"[--key-name NAME] | --insecure] "
	"[--backup PATH] [--transport tcp|rdma|auto] [--log-level LEVEL] [-f] "
	"[-o OPTS] [--version]\n"
	"       cnetmem SOURCE MOUNTPOINT -o OPTS   (as mount.fuse3 runs it)";

/* The setting an -o item names ("key_file" and "key-file" alike), or NULL. */
static const struct opt_def *setting_of(const char *item, size_t keylen)
{
	for (const struct opt_def *d = fs_opt_defs; d->name; d++) {
		size_t i;

		if (strlen(d->name) != keylen || d->short_name == 'o')
			continue;
		for (i = 0; i < keylen; i++) {
			char c = item[i] == '_' ? '-' : item[i];

			if (c != d->name[i])
				break;
		}
		if (i == keylen)
			return d;
	}
	return NULL;
}

static int is_true(const char *v)
{
	return !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes");
}

/* Splits one -o value into argv entries at *n; text goes to *sp. */
static void split_opts(const char *val, char **out, int *n, char **sp)
{
	const char *item = val, *end, *eq;
	const struct opt_def *d;
	size_t len;

	while (*item) {
		end = strchr(item, ',');
		len = end ? (size_t)(end - item) : strlen(item);
		eq = memchr(item, '=', len);
		d = setting_of(item, eq ? (size_t)(eq - item) : len);
		if (len == 0) {
			/* empty item ("a,,b"): nothing */
		} else if (d && d->type == OPT_BOOL) {
			char v[16] = "true";

			if (eq && (size_t)(item + len - eq - 1) < sizeof(v)) {
				memcpy(v, eq + 1, item + len - eq - 1);
				v[item + len - eq - 1] = '\0';
			} else if (eq) {
				v[0] = '\0';
			}
			if (is_true(v)) {
				out[(*n)++] = *sp;
				*sp += sprintf(*sp, "--%s", d->name) + 1;
			}
		} else if (d) {
			out[(*n)++] = *sp;
			*sp += sprintf(*sp, "--%s=%.*s", d->name,
				       eq ? (int)(item + len - eq - 1) : 0,
				       eq ? eq + 1 : "") +
			       1;
		} else {
			out[(*n)++] = *sp;
			*sp += sprintf(*sp, "-o%.*s", (int)len, item) + 1;
		}
		item += len;
		if (*item == ',')
			item++;
	}
}

int fs_cfg_rewrite_argv(int argc, char **argv, char ***out_argv, int *out_argc)
{
	size_t text = 0, slots = argc + 1;
	char **out, *sp;
	const char *val;
	int n = 0;

	for (int i = 0; i < argc; i++) {
		text += strlen(argv[i]) + 1;
		slots += strlen(argv[i]) + 1;
	}
	/* an item of k bytes becomes at most "--" + name + "=" + k + NUL */
	text = text * 3 + 64;
	out = malloc(slots * sizeof(*out) + text);
	if (!out)
		return -ENOMEM;
	sp = (char *)(out + slots);
	for (int i = 0; i < argc; i++) {
		val = NULL;
		if (i > 0 &&
		    (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--options")) &&
		    i + 1 < argc)
			val = argv[++i];
		else if (i > 0 && !strncmp(argv[i], "-o", 2) && argv[i][2])
			val = argv[i] + 2;
		else if (i > 0 && !strncmp(argv[i], "--options=", 10))
			val = argv[i] + 10;
		if (i > 0 && !strcmp(argv[i], "--")) {
			/* everything after "--" is positional */
			for (; i < argc; i++)
				out[n++] = argv[i];
			break;
		}
		if (val)
			split_opts(val, out, &n, &sp);
		else
			out[n++] = argv[i];
	}
	out[n] = NULL;
	*out_argv = out;
	*out_argc = n;
	return 0;
}

int fs_cfg_validate(struct opts *o, struct fs_cfg *c, const char **pos,
		    int npos, const char **mountpoint)
{
	char host[256], port[32];

	if (npos < 1 || npos > 2) {
		snprintf(o->err, sizeof(o->err),
			 npos ? "too many arguments: expected MOUNTPOINT or "
				"SOURCE MOUNTPOINT"
			      : "no MOUNTPOINT given");
		return -EINVAL;
	}
	*mountpoint = pos[npos - 1];
	if (!**mountpoint) {
		snprintf(o->err, sizeof(o->err), "MOUNTPOINT is empty");
		return -EINVAL;
	}
	if (c->local_memory && (c->donor.n || c->donor_srv.n))
		return opts_fail(o, "local-memory",
				 "cannot be combined with --donor or "
				 "--donor-srv");
	if (!c->local_memory && !c->donor.n && !c->donor_srv.n) {
		snprintf(o->err, sizeof(o->err),
			 "no donor given: add --donor HOST:PORT or --donor-srv "
			 "NAME (or donor= in -o or the config file), or "
			 "--local-memory to keep pages in this daemon's "
			 "memory");
		return -EINVAL;
	}
	if (c->donor_srv_server && !c->donor_srv.n)
		return opts_fail(o, "donor-srv-server",
				 "has no meaning without --donor-srv");
	for (int i = 0; i < c->donor.n; i++) {
		if (parse_hostport(c->donor.v[i], FS_DEFAULT_PORT, host,
				   sizeof(host), port, sizeof(port)))
			return opts_fail(o, "donor", "'%s' is not HOST:PORT",
					 c->donor.v[i]);
		for (int j = 0; j < i; j++)
			if (!strcmp(c->donor.v[i], c->donor.v[j]))
				return opts_fail(o, "donor",
						 "'%s' is given twice",
						 c->donor.v[i]);
	}
	if (c->size % 4096)
		return opts_fail(o, "size", "must be a multiple of 4 KiB");
	if (c->local_memory && c->replicas > 1)
		return opts_fail(o, "replicas",
				 "%ld copies need donors; --local-memory keeps "
				 "one",
				 c->replicas);
	if (!c->local_memory && !c->donor_srv.n && c->replicas > c->donor.n)
		return opts_fail(
			o, "replicas",
			"%ld copies need at least %ld donors, %d given",
			c->replicas, c->replicas, c->donor.n);
	if (c->slab_size & (c->slab_size - 1))
		return opts_fail(o, "slab-size", "must be a power of two");
	if (c->metadata_max && c->metadata_max < (1 << 20))
		return opts_fail(o, "metadata-max", "must be 0 or at least 1M");
	if (c->rank_free == 0 && c->rank_trend == 0 && c->rank_latency == 0)
		return opts_fail(o, "rank-free",
				 "rank-free, rank-trend and rank-latency are "
				 "all 0: give one a weight (or rank-sample 1 "
				 "for a random choice)");
	if (c->local_memory && c->transport != FS_XPORT_AUTO)
		return opts_fail(o, "transport",
				 "has no meaning with --local-memory");
	if (c->key_file && c->insecure)
		return opts_fail(o, "insecure",
				 "cannot be combined with --key-file");
	if (!c->local_memory && !c->key_file && !c->insecure)
		return opts_fail(o, "key-file",
				 "required to use donors (or --insecure for "
				 "donors without keys, which gives every page "
				 "to whoever answers on their ports)");
	if (c->key_name && !c->key_file)
		return opts_fail(o, "key-name", "needs --key-file");
	if (c->key_name && !auth_name_ok(c->key_name))
		return opts_fail(o, "key-name",
				 "'%s' is not a name (letters, digits, '.', "
				 "'_', '-')",
				 c->key_name);
	return 0;
}

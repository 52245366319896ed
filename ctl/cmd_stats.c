// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cnetmemctl stats MOUNTPOINT [--json] - a cnetmem mount's state, read from
 * MOUNTPOINT/.cnetmem-stats (a JSON object written by fs/fs_stats.c),
 * printed as tables, or raw with --json.
 *
 * The JSON is parsed by a small recursive-descent parser into a tree; what
 * the parser does not understand is an error, never a crash.
 */
#include "common/parse.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATS_NAME ".cnetmem-stats"
#define STATS_MAX  (16u << 20)
#define JSON_DEPTH 16

int cmd_stats(int argc, char **argv);

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jval {
	enum jtype type;
	double num;
	char *str;	   /* J_STR; also the key when inside an object */
	char *key;	   /* member name in an object */
	struct jval *kids; /* J_ARR, J_OBJ: first child */
	struct jval *next; /* next sibling */
};

struct jparser {
	const char *p, *end;
	int depth;
};

static void jfree(struct jval *v)
{
	while (v) {
		struct jval *n = v->next;

		jfree(v->kids);
		free(v->str);
		free(v->key);
		free(v);
		v = n;
	}
}

static void skip_ws(struct jparser *jp)
{
	while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\n' ||
				   *jp->p == '\t' || *jp->p == '\r'))
		jp->p++;
}

static int parse_value(struct jparser *jp, struct jval **out);

/* A string without \u escapes beyond ASCII (all our stats need). */
static int parse_string(struct jparser *jp, char **out)
{
	const char *s;
	char *buf, *w;

	if (jp->p >= jp->end || *jp->p != '"')
		return -EINVAL;
	s = ++jp->p;
	while (jp->p < jp->end && *jp->p != '"')
		jp->p += (*jp->p == '\\' && jp->p + 1 < jp->end) ? 2 : 1;
	if (jp->p >= jp->end)
		return -EINVAL;
	buf = malloc(jp->p - s + 1);
	if (!buf)
		return -ENOMEM;
	for (w = buf; s < jp->p; s++) {
		if (*s == '\\') {
			s++;
			switch (*s) {
			case 'n':
				*w++ = '\n';
				break;
			case 't':
				*w++ = '\t';
				break;
			case 'u':
				*w++ = '?';
				s += (jp->p - s > 4) ? 4 : 0;
				break;
			default:
				*w++ = *s;
			}
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
	jp->p++;
	*out = buf;
	return 0;
}

static int parse_items(struct jparser *jp, struct jval *v, char close)
{
	struct jval **tail = &v->kids, *kid;
	char *key = NULL;
	int ret;

	jp->p++;
	skip_ws(jp);
	if (jp->p < jp->end && *jp->p == close) {
		jp->p++;
		return 0;
	}
	for (;;) {
		skip_ws(jp);
		if (close == '}') {
			ret = parse_string(jp, &key);
			if (ret)
				return ret;
			skip_ws(jp);
			if (jp->p >= jp->end || *jp->p != ':') {
				free(key);
				return -EINVAL;
			}
			jp->p++;
		}
		ret = parse_value(jp, &kid);
		if (ret) {
			free(key);
			return ret;
		}
		kid->key = key;
		key = NULL;
		*tail = kid;
		tail = &kid->next;
		skip_ws(jp);
		if (jp->p < jp->end && *jp->p == ',') {
			jp->p++;
			continue;
		}
		if (jp->p < jp->end && *jp->p == close) {
			jp->p++;
			return 0;
		}
		return -EINVAL;
	}
}

static int parse_value(struct jparser *jp, struct jval **out)
{
	struct jval *v;
	char *end;
	int ret = 0;

	skip_ws(jp);
	if (jp->p >= jp->end || ++jp->depth > JSON_DEPTH)
		return -EINVAL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	switch (*jp->p) {
	case '{':
		v->type = J_OBJ;
		ret = parse_items(jp, v, '}');
		break;
	case '[':
		v->type = J_ARR;
		ret = parse_items(jp, v, ']');
		break;
	case '"':
		v->type = J_STR;
		ret = parse_string(jp, &v->str);
		break;
	case 't':
	case 'f':
	case 'n':
		v->type = *jp->p == 'n' ? J_NULL : J_BOOL;
		v->num = *jp->p == 't';
		while (jp->p < jp->end && *jp->p >= 'a' && *jp->p <= 'z')
			jp->p++;
		break;
	default:
		v->type = J_NUM;
		v->num = strtod(jp->p, &end);
		if (end == jp->p || end > jp->end)
			ret = -EINVAL;
		else
			jp->p = end;
	}
	jp->depth--;
	if (ret) {
		jfree(v);
		return ret;
	}
	*out = v;
	return 0;
}

static const struct jval *get(const struct jval *obj, const char *key)
{
	if (!obj || obj->type != J_OBJ)
		return NULL;
	for (const struct jval *k = obj->kids; k; k = k->next)
		if (k->key && !strcmp(k->key, key))
			return k;
	return NULL;
}

static double num(const struct jval *obj, const char *key)
{
	const struct jval *v = get(obj, key);

	return v && v->type == J_NUM ? v->num : 0;
}

static const char *str(const struct jval *obj, const char *key)
{
	const struct jval *v = get(obj, key);

	return v && v->type == J_STR ? v->str : "-";
}

static const char *sz(double bytes, char *buf, size_t len)
{
	return format_size(bytes < 0 ? 0 : (uint64_t)bytes, buf, len);
}

/* Mean of a power-of-two histogram (bucket i holds [2^i, 2^(i+1))). */
static double hist_mean(const struct jval *h)
{
	double n = 0, sum = 0, lo = 1;

	if (!h || h->type != J_ARR)
		return 0;
	for (const struct jval *b = h->kids; b; b = b->next, lo *= 2) {
		n += b->num;
		sum += b->num * lo; /* the bucket's lower bound */
	}
	return n ? sum / n : 0;
}

static int read_all(const char *path, char **out, size_t *len)
{
	size_t cap = 64 * 1024, n = 0;
	char *buf = malloc(cap), *nb;
	ssize_t r;
	int fd, ret = 0;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out_free;
	}
	for (;;) {
		if (n == cap) {
			if (cap >= STATS_MAX) {
				ret = -EFBIG;
				goto out_close;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				ret = -ENOMEM;
				goto out_close;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			goto out_close;
		}
		if (r == 0)
			break;
		n += r;
	}
	close(fd);
	*out = buf;
	*len = n;
	return 0;

out_close:
	close(fd);
out_free:
	free(buf);
	return ret;
}

static void print_table(const struct jval *root)
{
	const struct jval *ops = get(root, "ops"),
			  *donors = get(root, "donors");
	double cap = num(root, "capacity_bytes"),
	       used = num(root, "used_bytes");
	char a[32], b[32], c[32];

	printf("mount %s\n", str(root, "mountpoint"));
	printf("  capacity %s, used %s (%.1f%%), %.0f files, %.0f inodes\n",
	       sz(cap, a, sizeof(a)), sz(used, b, sizeof(b)),
	       cap ? 100.0 * used / cap : 0.0, num(root, "files"),
	       num(root, "inodes"));
	printf("  read %s, written %s, partial-page reads %.0f, "
	       "request waits %.0f (of %.0f buffers)\n",
	       sz(num(root, "bytes_read"), a, sizeof(a)),
	       sz(num(root, "bytes_written"), b, sizeof(b)),
	       num(root, "rmw_reads"), num(root, "request_waits"),
	       num(root, "request_buffers"));
	printf("  metadata %s of %s (namespace %s), page map nodes %.0f, "
	       "refused %.0f\n",
	       sz(num(root, "metadata_bytes"), a, sizeof(a)),
	       sz(num(root, "metadata_budget"), b, sizeof(b)),
	       sz(num(root, "namespace_bytes"), c, sizeof(c)),
	       num(root, "map_nodes_used"), num(root, "metadata_enospc"));
	if (ops && ops->type == J_OBJ) {
		printf("\n  %-12s %12s %8s\n", "operation", "count", "errors");
		for (const struct jval *o = ops->kids; o; o = o->next)
			if (num(o, "count") || num(o, "errors"))
				printf("  %-12s %12.0f %8.0f\n", o->key,
				       num(o, "count"), num(o, "errors"));
	}
	for (int h = 0; h < 2; h++) {
		const struct jval *hist =
			get(root, h ? "write_kib" : "read_kib");
		double lo = 1;

		if (!hist || hist->type != J_ARR)
			continue;
		printf("  %s sizes:", h ? "write" : "read");
		for (const struct jval *k = hist->kids; k; k = k->next, lo *= 2)
			if (k->num && lo == 1)
				printf(" <2K:%.0f", k->num);
			else if (k->num)
				printf(" %.0fK:%.0f", lo, k->num);
		printf("\n");
	}
	if (get(root, "slab_size"))
		printf("\n  page store: slab %s, %.0f replica(s), %.0f slabs "
		       "(%.0f degraded), pages %.0f of %.0f\n",
		       sz(num(root, "slab_size"), c, sizeof(c)),
		       num(root, "replicas"), num(root, "slabs"),
		       num(root, "degraded_slabs"), num(root, "pages_used"),
		       num(root, "pages_total"));
	if (donors && donors->type == J_ARR && donors->kids) {
		printf("\n  %-22s %-9s %-6s %5s %9s %9s %9s %6s %8s %7s\n",
		       "donor", "transport", "state", "slabs", "read",
		       "written", "latency", "errors", "ops/post", "KiB/op");
		for (const struct jval *d = donors->kids; d; d = d->next) {
			char lat[32];

			snprintf(lat, sizeof(lat), "%.1fus",
				 num(d, "latency_us"));
			printf("  %-22s %-9s %-6s %5.0f %9s %9s %9s %6.0f "
			       "%8.1f %7.1f\n",
			       str(d, "addr"), str(d, "transport"),
			       str(d, "state"), num(d, "slabs"),
			       sz(num(d, "bytes_read"), a, sizeof(a)),
			       sz(num(d, "bytes_written"), b, sizeof(b)), lat,
			       num(d, "errors") + num(d, "timeouts"),
			       num(d, "posts") ? num(d, "ops") / num(d, "posts")
					       : 0.0,
			       hist_mean(get(d, "kib_per_op")));
		}
	}
}

int cmd_stats(int argc, char **argv)
{
	const char *mnt = NULL;
	struct jparser jp;
	struct jval *root = NULL;
	char path[4096], *buf = NULL;
	int json = 0, ret;
	size_t len = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (argv[i][0] == '-' || mnt) {
			fprintf(stderr, "usage: cnetmemctl stats MOUNTPOINT "
					"[--json]\n");
			return 2;
		} else {
			mnt = argv[i];
		}
	}
	if (!mnt) {
		fprintf(stderr,
			"usage: cnetmemctl stats MOUNTPOINT [--json]\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/%s", mnt, STATS_NAME);
	ret = read_all(path, &buf, &len);
	if (ret) {
		fprintf(stderr, "cnetmemctl: %s: %s%s\n", path, strerror(-ret),
			ret == -ENOENT ? " (is it a cnetmem mount?)" : "");
		return 1;
	}
	if (json) {
		fwrite(buf, 1, len, stdout);
		free(buf);
		return 0;
	}
	jp.p = buf;
	jp.end = buf + len;
	jp.depth = 0;
	ret = parse_value(&jp, &root);
	if (ret || root->type != J_OBJ) {
		fprintf(stderr,
			"cnetmemctl: %s: not the JSON object expected\n", path);
		jfree(root);
		free(buf);
		return 1;
	}
	print_table(root);
	jfree(root);
	free(buf);
	return 0;
}

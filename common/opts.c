// SPDX-License-Identifier: GPL-2.0-or-later
/* opts - defaults, libconfig files and command lines into one struct. */
#include "common/opts.h"

#include "cnm_config.h"
#include "common/parse.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* getopt value of --version: below every short option and 256 + index */
#define OPT_VERSION_VAL 1

static void *field(const struct opts *o, const struct opt_def *d)
{
	return (char *)o->cfg + d->offset;
}

static int find(const struct opts *o, const char *name)
{
	for (int i = 0; i < o->ndefs; i++)
		if (!strcmp(o->defs[i].name, name))
			return i;
	return -1;
}

const char *opts_origin(const struct opts *o, const char *name)
{
	int i = find(o, name);

	return i < 0 ? "?" : o->where[i];
}

static int vfail(struct opts *o, const char *where, const char *name,
		 const char *fmt, va_list ap)
{
	int n = snprintf(o->err, sizeof(o->err), "%s: %s: ", where, name);

	if (n < (int)sizeof(o->err))
		vsnprintf(o->err + n, sizeof(o->err) - n, fmt, ap);
	return -EINVAL;
}

int opts_fail(struct opts *o, const char *name, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vfail(o, opts_origin(o, name), name, fmt, ap);
	va_end(ap);
	return ret;
}

static int fail_at(struct opts *o, const char *where, const char *name,
		   const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vfail(o, where, name, fmt, ap);
	va_end(ap);
	return ret;
}

static int check_range(struct opts *o, int i, const char *where, double v)
{
	const struct opt_def *d = &o->defs[i];

	if (d->min < d->max && (v < d->min || v > d->max))
		return fail_at(o, where, d->name, "%g is out of range [%g, %g]",
			       v, d->min, d->max);
	return 0;
}

/* Sets definition i from text; the one place values are parsed. */
static int set_text(struct opts *o, int i, const char *text, const char *where)
{
	const struct opt_def *d = &o->defs[i];
	void *p = field(o, d);
	struct opt_strlist *l;
	char **nv, *end;
	uint64_t sz;
	double dv;
	long lv;
	int ret;

	switch (d->type) {
	case OPT_STR:
		free(*(char **)p);
		*(char **)p = strdup(text);
		if (!*(char **)p)
			return -ENOMEM;
		break;
	case OPT_SIZE:
		ret = parse_size(text, &sz);
		if (ret)
			return fail_at(o, where, d->name,
				       "'%s' is not a size (use e.g. 512M, 4G)",
				       text);
		ret = check_range(o, i, where, (double)sz);
		if (ret)
			return ret;
		*(uint64_t *)p = sz;
		break;
	case OPT_INT:
		ret = parse_long(text, -(1L << 62), 1L << 62, &lv);
		if (ret)
			return fail_at(o, where, d->name,
				       "'%s' is not an integer", text);
		ret = check_range(o, i, where, (double)lv);
		if (ret)
			return ret;
		*(long *)p = lv;
		break;
	case OPT_DOUBLE:
		dv = strtod(text, &end);
		if (!*text || *end)
			return fail_at(o, where, d->name,
				       "'%s' is not a number", text);
		ret = check_range(o, i, where, dv);
		if (ret)
			return ret;
		*(double *)p = dv;
		break;
	case OPT_BOOL:
		if (!strcmp(text, "true") || !strcmp(text, "1") ||
		    !strcmp(text, "yes"))
			*(int *)p = 1;
		else if (!strcmp(text, "false") || !strcmp(text, "0") ||
			 !strcmp(text, "no"))
			*(int *)p = 0;
		else
			return fail_at(o, where, d->name,
				       "'%s' is not true or false", text);
		break;
	case OPT_ENUM:
		for (int c = 0; d->choices[c]; c++) {
			if (!strcmp(d->choices[c], text)) {
				*(int *)p = c;
				goto out;
			}
		}
		return fail_at(o, where, d->name,
			       "'%s' is not one of the choices", text);
	case OPT_STRLIST:
		l = p;
		nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->v[l->n] = strdup(text);
		if (!l->v[l->n])
			return -ENOMEM;
		l->n++;
		break;
	}
out:
	snprintf(o->where[i], OPT_WHERE_LEN, "%s", where);
	return 0;
}

static void clear_list(struct opt_strlist *l)
{
	for (int j = 0; j < l->n; j++)
		free(l->v[j]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int opts_init(struct opts *o, const struct opt_def *defs, void *cfg)
{
	int ret;

	memset(o, 0, sizeof(*o));
	o->defs = defs;
	o->cfg = cfg;
	while (defs[o->ndefs].name)
		o->ndefs++;
	o->where = calloc(o->ndefs, sizeof(*o->where));
	if (!o->where)
		return -ENOMEM;
	for (int i = 0; i < o->ndefs; i++) {
		snprintf(o->where[i], OPT_WHERE_LEN, "default");
		if (!defs[i].def)
			continue;
		ret = set_text(o, i, defs[i].def, "default");
		if (ret)
			return ret;
		snprintf(o->where[i], OPT_WHERE_LEN, "default");
	}
	return 0;
}

/* Converts one scalar libconfig setting to the text set_text() takes. */
static int setting_text(config_setting_t *s, char *buf, size_t len)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_STRING:
		snprintf(buf, len, "%s", config_setting_get_string(s));
		return 0;
	case CONFIG_TYPE_INT:
		snprintf(buf, len, "%d", config_setting_get_int(s));
		return 0;
	case CONFIG_TYPE_INT64:
		snprintf(buf, len, "%lld", config_setting_get_int64(s));
		return 0;
	case CONFIG_TYPE_FLOAT:
		snprintf(buf, len, "%.17g", config_setting_get_float(s));
		return 0;
	case CONFIG_TYPE_BOOL:
		snprintf(buf, len, "%s",
			 config_setting_get_bool(s) ? "true" : "false");
		return 0;
	default:
		return -EINVAL;
	}
}

static int load_config(struct opts *o, config_t *c, const char *name)
{
	config_setting_t *root = config_root_setting(c), *s, *e;
	char where[OPT_WHERE_LEN], text[4096];
	int i, ret;

	for (int k = 0; k < config_setting_length(root); k++) {
		s = config_setting_get_elem(root, k);
		snprintf(where, sizeof(where), "%s:%d", name,
			 config_setting_source_line(s));
		i = find(o, config_setting_name(s));
		if (i < 0)
			return fail_at(o, where, config_setting_name(s),
				       "unknown setting");
		if (o->defs[i].type == OPT_STRLIST) {
			/* the file replaces defaults; the command line appends */
			clear_list(field(o, &o->defs[i]));
			if (config_setting_is_array(s) ||
			    config_setting_is_list(s)) {
				for (int j = 0; j < config_setting_length(s);
				     j++) {
					e = config_setting_get_elem(s, j);
					if (config_setting_type(e) !=
					    CONFIG_TYPE_STRING)
						return fail_at(
							o, where,
							o->defs[i].name,
							"expected strings");
					ret = set_text(
						o, i,
						config_setting_get_string(e),
						where);
					if (ret)
						return ret;
				}
				continue;
			}
		}
		if (setting_text(s, text, sizeof(text)))
			return fail_at(o, where, o->defs[i].name,
				       "expected a single value");
		/* `donor = 5;` is no address: text settings take strings */
		if ((o->defs[i].type == OPT_STR ||
		     o->defs[i].type == OPT_STRLIST) &&
		    config_setting_type(s) != CONFIG_TYPE_STRING)
			return fail_at(o, where, o->defs[i].name,
				       "expected a string in quotes");
		ret = set_text(o, i, text, where);
		if (ret)
			return ret;
	}
	return 0;
}

static int finish_load(struct opts *o, config_t *c, int ok, const char *name)
{
	int ret;

	if (!ok) {
		snprintf(o->err, sizeof(o->err), "%s:%d: %s",
			 config_error_file(c) ? config_error_file(c) : name,
			 config_error_line(c), config_error_text(c));
		ret = -EINVAL;
	} else {
		ret = load_config(o, c, name);
	}
	config_destroy(c);
	return ret;
}

int opts_load_file(struct opts *o, const char *path)
{
	struct stat st;
	config_t c;
	FILE *f;
	int ok, fd, ret;

	/* O_NONBLOCK: a FIFO must not hang us; only a regular file is read */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st)) {
		ret = -errno;
		snprintf(o->err, sizeof(o->err), "%s: %s", path,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(o->err, sizeof(o->err),
			 "%s: not a regular file (a config file is read "
			 "whole)",
			 path);
		close(fd);
		return -EINVAL;
	}
	f = fdopen(fd, "r");
	if (!f) {
		ret = -errno;
		snprintf(o->err, sizeof(o->err), "%s: %s", path,
			 strerror(errno));
		close(fd);
		return ret;
	}
	config_init(&c);
	ok = config_read(&c, f);
	fclose(f);
	return finish_load(o, &c, ok, path);
}

int opts_load_string(struct opts *o, const char *text, const char *name)
{
	config_t c;

	config_init(&c);
	return finish_load(o, &c, config_read_string(&c, text), name);
}

void opts_usage(const struct opts *o, const char *usage_line)
{
	char arg[64];

	printf("usage: %s\n\noptions (also settable in the --config file):\n",
	       usage_line);
	for (int i = 0; i < o->ndefs; i++) {
		const struct opt_def *d = &o->defs[i];

		if (d->type == OPT_BOOL)
			arg[0] = '\0';
		else
			snprintf(arg, sizeof(arg), " %s",
				 d->metavar ? d->metavar : "VALUE");
		printf("  %c%c%s--%s%s\n        %s", d->short_name ? '-' : ' ',
		       d->short_name ? d->short_name : ' ',
		       d->short_name ? ", " : "  ", d->name, arg, d->help);
		if (d->def)
			printf(" (default %s)", d->def);
		printf("\n");
	}
	printf("  -h, --help\n        show this help\n");
	printf("      --version\n        print the version and exit\n");
}

int opts_parse_argv(struct opts *o, int argc, char **argv,
		    const char **positional, int max_positional, int *npos,
		    const char *usage_line)
{
	struct option *lo;
	char shorts[128], where[OPT_WHERE_LEN];
	int c, idx, ns = 0, ret = 0, cfg, pass;

	*npos = 0;
	lo = calloc(o->ndefs + 3, sizeof(*lo));
	if (!lo)
		return -ENOMEM;
	shorts[ns++] = '+';
	shorts[ns++] = ':';
	for (int i = 0; i < o->ndefs; i++) {
		const struct opt_def *d = &o->defs[i];

		lo[i].name = d->name;
		lo[i].has_arg =
			d->type == OPT_BOOL ? no_argument : required_argument;
		lo[i].val = 256 + i;
		if (d->short_name && ns < (int)sizeof(shorts) - 3) {
			shorts[ns++] = d->short_name;
			if (d->type != OPT_BOOL)
				shorts[ns++] = ':';
		}
	}
	lo[o->ndefs].name = "help";
	lo[o->ndefs].val = 'h';
	lo[o->ndefs + 1].name = "version";
	lo[o->ndefs + 1].val = OPT_VERSION_VAL;
	shorts[ns++] = 'h';
	shorts[ns] = '\0';

	/* pass 0 reads only --config; pass 1 applies everything else */
	cfg = find(o, "config");
	for (pass = 0; pass < 2 && !ret; pass++) {
		optind = 0;
		opterr = 0;
		*npos = 0;
		while (!ret && optind < argc) {
			c = getopt_long(argc, argv, shorts, lo, &idx);
			if (c == -1) {
				if (optind >= argc)
					break;
				/* a positional argument: keep going after it */
				if (pass == 1) {
					if (*npos >= max_positional) {
						snprintf(o->err, sizeof(o->err),
							 "unexpected argument "
							 "'%s'",
							 argv[optind]);
						ret = -EINVAL;
						break;
					}
					positional[(*npos)++] = argv[optind];
				}
				optind++;
				continue;
			}
			if (c == 'h') {
				if (pass == 1) {
					opts_usage(o, usage_line);
					ret = 1;
				}
				continue;
			}
			if (c == OPT_VERSION_VAL) {
				if (pass == 1) {
					/* the program is the usage line's
					 * first word */
					printf("%.*s %s\n",
					       (int)strcspn(usage_line, " "),
					       usage_line, CNM_VERSION);
					ret = 1;
				}
				continue;
			}
			if (c == '?' || c == ':') {
				snprintf(o->err, sizeof(o->err),
					 c == '?' ? "unknown option '%s'"
						  : "option '%s' needs a value",
					 argv[optind - 1]);
				ret = -EINVAL;
				break;
			}
			if (c < 256) {
				for (idx = 0; idx < o->ndefs; idx++)
					if (o->defs[idx].short_name == c)
						break;
			} else {
				idx = c - 256;
			}
			if ((pass == 0) != (idx == cfg))
				continue;
			snprintf(where, sizeof(where), "--%s",
				 o->defs[idx].name);
			ret = set_text(o, idx, optarg ? optarg : "true", where);
			if (!ret && pass == 0)
				ret = opts_load_file(o, optarg);
		}
	}
	free(lo);
	return ret;
}

void opts_free(struct opts *o)
{
	for (int i = 0; i < o->ndefs; i++) {
		void *p = field(o, &o->defs[i]);

		if (o->defs[i].type == OPT_STR) {
			free(*(char **)p);
			*(char **)p = NULL;
		} else if (o->defs[i].type == OPT_STRLIST) {
			clear_list(p);
		}
	}
	free(o->where);
	o->where = NULL;
}

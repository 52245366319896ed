/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * opts - one table of settings per binary, filled from defaults, then a
 * libconfig file, then the command line (later wins). Every setting has the
 * same name as a long option and as a config-file setting, so "every flag
 * also settable in the config file" holds by construction.
 *
 * Values are range-checked as they are set; an error names where the bad
 * value came from ("etc/donor.conf:7: memory: ..." or "--memory: ..."), so
 * the binary's own validate function only checks relations between values
 * and can ask opts_origin() where a value came from.
 *
 * Ownership: strings in the filled struct are owned copies, freed by
 * opts_free(). Threading: start-up only, one thread.
 */
#ifndef CNM_COMMON_OPTS_H
#define CNM_COMMON_OPTS_H

#include <stddef.h>
#include <stdint.h>

enum opt_type {
	OPT_STR,     /* char * */
	OPT_SIZE,    /* uint64_t, K/M/G/T suffixes */
	OPT_INT,     /* long */
	OPT_DOUBLE,  /* double */
	OPT_BOOL,    /* int; a flag on the command line */
	OPT_STRLIST, /* struct opt_strlist; repeatable, appends */
	OPT_ENUM,    /* int; index into choices */
};

struct opt_strlist {
	char **v;
	int n;
};

struct opt_def {
	const char *name; /* long option and config setting */
	char short_name;  /* 0 for none */
	enum opt_type type;
	size_t offset;		    /* into the caller's config struct */
	const char *def;	    /* default as text, NULL for none */
	double min, max;	    /* range for numbers when min < max */
	const char *const *choices; /* OPT_ENUM: NULL-terminated */
	const char *metavar;
	const char *help;
};

#define OPT_END                                                                \
	{                                                                      \
		0                                                              \
	}
#define OPT_WHERE_LEN 96

struct opts {
	const struct opt_def *defs;
	void *cfg;
	char (*where)[OPT_WHERE_LEN]; /* per def: origin of its value */
	int ndefs;
	char err[512]; /* the last error, a full sentence for the user */
};

/* Sets defaults. 0 or -errno (opts->err says why). */
int opts_init(struct opts *o, const struct opt_def *defs, void *cfg);
/* Loads a libconfig file; unknown settings are errors. */
int opts_load_file(struct opts *o, const char *path);
/* Loads a libconfig document from memory (for tests and fuzzing). */
int opts_load_string(struct opts *o, const char *text, const char *name);
/*
 * Parses argv. Non-option arguments are returned in order through
 * positional (an array of at most max_positional borrowed argv pointers).
 * "--config FILE" is handled first if config_name is a defined OPT_STR, so
 * the command line overrides the file. Returns 0, 1 when --help or
 * --version was given (usage or "PROGRAM VERSION" already printed, the
 * program being the usage line's first word), or -errno.
 */
int opts_parse_argv(struct opts *o, int argc, char **argv,
		    const char **positional, int max_positional, int *npos,
		    const char *usage_line);
/* Where did the setting come from: "FILE:LINE", "--name" or "default". */
const char *opts_origin(const struct opts *o, const char *name);
/* Sets o->err to "<origin of name>: <name>: <message>" and returns -EINVAL. */
int opts_fail(struct opts *o, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void opts_usage(const struct opts *o, const char *usage_line);
void opts_free(struct opts *o);

#endif

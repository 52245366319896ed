// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cnetmemctl - the operator's command: `cnetmemctl COMMAND ARGS...`,
 * dispatched through the table in ctl/commands.h. `cnetmemctl COMMAND
 * --help` (or -h) prints that command's usage from the table, for every
 * command alike.
 */
#include "cnm_config.h"

#include <stdio.h>
#include <string.h>

#define CTL_COMMAND(name, fn, usage, help) int fn(int argc, char **argv);
#include "ctl/commands.h"
#undef CTL_COMMAND

struct ctl_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
	const char *help;
};

static const struct ctl_cmd cmds[] = {
#define CTL_COMMAND(name, fn, usage, help) { name, fn, usage, help },
#include "ctl/commands.h"
#undef CTL_COMMAND
};

static void usage(FILE *f)
{
	fprintf(f, "usage: cnetmemctl COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %s\n      %s\n", cmds[i].usage, cmds[i].help);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("cnetmemctl %s\n", CNM_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name))
			continue;
		for (int a = 2; a < argc; a++) {
			if (!strcmp(argv[a], "--"))
				break;
			if (!strcmp(argv[a], "--help") ||
			    !strcmp(argv[a], "-h")) {
				printf("usage: cnetmemctl %s\n\n%s\n",
				       cmds[i].usage, cmds[i].help);
				return 0;
			}
		}
		return cmds[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "cnetmemctl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}

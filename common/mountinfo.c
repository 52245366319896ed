// SPDX-License-Identifier: GPL-2.0-or-later
/* mountinfo - mounts by file system type (see common/mountinfo.h). */
#include "common/mountinfo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
				      (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

int mountinfo_parse_line(char *line, char **mp, char **fstype)
{
	char *sep, *type, *dir, *save = NULL;

	sep = strstr(line, " - ");
	if (!sep)
		return -EINVAL;
	type = strtok_r(sep + 3, " \n", &save);
	if (!type)
		return -EINVAL;
	*sep = '\0';
	save = NULL;
	dir = strtok_r(line, " ", &save);
	for (int i = 0; dir && i < 4; i++)
		dir = strtok_r(NULL, " ", &save);
	if (!dir)
		return -EINVAL;
	unescape(dir);
	*mp = dir;
	*fstype = type;
	return 0;
}

/* Calls fn(mount point, arg) for each mount of fstype until fn returns
 * non-zero: that value, 0 at the end, or -errno. */
static int each_mount(const char *fstype, int (*fn)(const char *, void *),
		      void *arg)
{
	char *line = NULL, *mp, *type;
	size_t cap = 0;
	int ret = 0;
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (!ret && getline(&line, &cap, f) > 0) {
		if (mountinfo_parse_line(line, &mp, &type) ||
		    strcmp(type, fstype))
			continue;
		ret = fn(mp, arg);
	}
	free(line);
	fclose(f);
	return ret;
}

struct list {
	char **v;
	int n;
};

static int add_one(const char *mp, void *arg)
{
	struct list *l = arg;
	char **nv;

	nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	l->v = nv;
	l->v[l->n] = strdup(mp);
	if (!l->v[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

int mountinfo_list(const char *fstype, char ***mounts, int *n)
{
	struct list l = { 0 };
	int ret;

	ret = each_mount(fstype, add_one, &l);
	if (ret) {
		mountinfo_free(l.v, l.n);
		return ret;
	}
	*mounts = l.v;
	*n = l.n;
	return 0;
}

void mountinfo_free(char **mounts, int n)
{
	for (int i = 0; i < n; i++)
		free(mounts[i]);
	free(mounts);
}

static int is_path(const char *mp, void *arg)
{
	return !strcmp(mp, arg);
}

int mountinfo_has(const char *fstype, const char *path)
{
	return each_mount(fstype, is_path, (void *)path) == 1;
}

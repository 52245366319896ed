/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mountinfo - the mounts of this host as /proc/self/mountinfo lists them,
 * by file system type: the mount daemon asks whether its mount point is
 * already a cnetmem mount, cnetmemctl lists the cnetmem mounts (ctl/mounts.h).
 * Reading the file never touches a mount, so a hung one cannot block.
 *
 * mountinfo_parse_line() is the pure part (unit-tested); the others read
 * the file. Ownership: a list returned is the caller's (mountinfo_free()).
 * Threading: any thread; no shared state.
 */
#ifndef CNM_COMMON_MOUNTINFO_H
#define CNM_COMMON_MOUNTINFO_H

#define MOUNTINFO_CNETMEM "fuse.cnetmem" /* our file system type */

/*
 * Splits one mountinfo line ("ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS
 * [TAGS...] - TYPE SOURCE SUPEROPTS") in place: *mp is the mount point
 * with its octal escapes (\040 for a space...) undone, *fstype its type.
 * 0, or -EINVAL for a line that is not of that form.
 */
int mountinfo_parse_line(char *line, char **mp, char **fstype);
/* The mount points of every mount of type fstype, in mount order.
 * 0 or -errno. */
int mountinfo_list(const char *fstype, char ***mounts, int *n);
void mountinfo_free(char **mounts, int n);
/* 1 if path is the mount point of a mount of type fstype, 0 if not or
 * when mountinfo cannot be read. */
int mountinfo_has(const char *fstype, const char *path);

#endif

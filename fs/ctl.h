/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctl - the control channel of a running mount (issue 6): root opens
 * MOUNTPOINT/.cnetmem-stats for reading AND writing, writes one command
 * line, then reads back one result line. A read-only open still gets the
 * stats snapshot; the two never mix on one handle.
 *
 *   command                       result line
 *   donor-add HOST:PORT           "ok added HOST:PORT" | "error ERRNO TEXT"
 *   donor-drain HOST:PORT         "ok drained HOST:PORT" | "again draining
 *                                 HOST:PORT: WHY" (not done within
 *                                 FSCTL_SLICE_MS: write the command again;
 *                                 WHY says what holds it up) | "error ..."
 *   donor-undrain HOST:PORT       "ok undrained HOST:PORT" (the drain is
 *                                 cancelled) | "error ..."
 *
 * A drain is done in slices so that no FUSE worker is held for long; the
 * caller (cnetmemctl donor-drain) repeats the command until "ok" or its own
 * deadline.
 *
 * Threading: one handle is used by one FUSE request at a time (the kernel
 * serializes nothing, so each handle has its own lock); the commands block
 * the calling FUSE worker (pstore_donor_add/pstore_donor_drain wait on the
 * network) but never while holding a lock of the filesystem (fs_priv.h).
 */
#ifndef CNM_FS_CTL_H
#define CNM_FS_CTL_H

#include <stddef.h>
#include <sys/types.h>

#define FSCTL_SLICE_MS 1000
#define FSCTL_LINE     512

struct pstore;
struct fsctl;

/* A handle for one open; ps is borrowed (may be NULL: local memory). */
int fsctl_open(struct pstore *ps, struct fsctl **out);
void fsctl_close(struct fsctl *c);
/*
 * Runs the command in buf[0..len) (one line, a trailing newline allowed)
 * and keeps its result line. Returns len (the command ran: its outcome is
 * in the result, even a failed one) or -EINVAL for a line that is not a
 * command.
 */
ssize_t fsctl_write(struct fsctl *c, const char *buf, size_t len);
/* Copies the result line from off, at most size bytes; returns the count. */
size_t fsctl_read(struct fsctl *c, off_t off, char *buf, size_t size);

#endif

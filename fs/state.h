/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * state - a mount's state in memory that outlives its serving process
 * (issue 14): one arena (common/arena.h) laid out at mount time for the
 * mount's --size, --metadata-max and donors, held between serving
 * processes by the supervisor's descriptor.
 *
 *   supervisor:  state_create(&pcfg, &fparams, &st)  (no I/O, no network)
 *                keeps st (its mapping keeps the secrets resident) and
 *                passes state_fd(st) to each serving process it spawns.
 *   server:      state_attach(fd, &st)  (every server, the first one too)
 *                pcfg.arena = state_arena(st); pstore_open(&pcfg, ...)
 *                fparams.arena = state_arena(st); cnmfs_create(...)
 *                Each of them lays itself out in a fresh arena, or
 *                resumes what a dead predecessor left there.
 *
 * What lives there (sections, by owner):
 *   state  STATE_SEC_HDR: layout version, how many servers attached (so
 *          restarts), blobs the process half keeps (the kernel's
 *          FUSE_INIT, STATE_BLOB_*).
 *   pstore placement/pstore_state.c: the store's settings, the session id,
 *          the donor slots (address, transport, drained), their session
 *          secrets and the page key (secret section), the slab map with
 *          every replica, each page's seal version, the page bitmap.
 *   fs     fs/fs_state.c: the page-map node pool and the namespace.
 *
 * Consistency: every record a successor reads is published with one
 * atomic store after what it points to is complete (and, for page data,
 * after the donors acknowledged it), so a crash at any instant leaves
 * either the old or the new fact, never half of one. What can be derived
 * (free lists, counters, hash tables, locks, threads, connections) is
 * not stored: the successor rebuilds it at attach.
 *
 * Threading: create, attach and close from one thread; state_blob_put()
 * from one thread at a time; the rest from any thread.
 */
#ifndef CNM_FS_STATE_H
#define CNM_FS_STATE_H

#include <stddef.h>
#include <stdint.h>

struct arena;
struct pstore_cfg;
struct cnmfs_params;
struct state;

#define STATE_BLOB_MAX 8192u /* bytes per blob */
enum state_blob {
	STATE_BLOB_FUSE_INIT, /* the kernel's FUSE_INIT request (restart-proc) */
	STATE_BLOB_FUSE_CONN, /* what the process half keeps of the session */
	STATE_BLOB_N
};

/*
 * Lays out a fresh state for the mount pc and fp describe (capacity, slab
 * size, sealing, replicas, donors, metadata budget): a new memfd, no
 * network, no file. The pointers in pc and fp are only read during the
 * call. 0, -EINVAL (settings), -ENOMEM.
 */
int state_create(const struct pstore_cfg *pc, const struct cnmfs_params *fp,
		 struct state **out);
/*
 * Maps the state held by fd in a serving process and counts one more
 * server (state_restarts()). Takes ownership of fd on success only.
 * -EPROTO: not a state of this build's layout (an upgrade that changed
 * the layout cannot resume: the caller logs it and exits).
 */
int state_attach(int fd, struct state **out);
/* Unmaps and closes the fd; the state lives while another fd holds it. */
void state_close(struct state *st);

/* The memfd, owned by st, valid until state_close(); CLOEXEC is set. */
int state_fd(const struct state *st);
/* For pstore_cfg.arena and cnmfs_params.arena; owned by st. */
struct arena *state_arena(const struct state *st);
/* Servers that attached before this one (0 in the first server). */
uint32_t state_restarts(const struct state *st);

/* Keeps len bytes (<= STATE_BLOB_MAX) in blob b; readers see the old or
 * the new blob whole, never a mix. 0 or -EINVAL. */
int state_blob_put(struct state *st, enum state_blob b, const void *buf,
		   size_t len);
/* Copies blob b into buf; its length, -ENOENT never put, -ENOSPC when
 * len is too small. */
int state_blob_get(const struct state *st, enum state_blob b, void *buf,
		   size_t len);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * arena - a fixed-size memfd whose content outlives the process that maps
 * it (issue 14): a mount's state lives there, held between serving
 * processes by the supervisor's descriptor.
 *
 * An arena is one memfd (MFD_CLOEXEC, sealed against shrinking and
 * growing) mapped MAP_SHARED, with a header naming its sections: up to
 * ARENA_MAX_SECTIONS regions {id, offset, length}, laid out once by
 * arena_create() and never moved. Everything inside is addressed by
 * offsets (never pointers), so a successor that maps the arena at another
 * address reads the same state. The header carries a magic number and a
 * layout version: arena_attach() refuses an arena of another layout
 * (-EPROTO) rather than read it wrongly.
 *
 * Secrets: a section created with ARENA_SEC_SECRET is mlock()ed in every
 * process that maps the arena (the supervisor included, so its pages
 * never reach swap while no server runs) and left out of core dumps
 * (MADV_DONTDUMP). A memfd lives in RAM; it never touches a disk.
 *
 * Consistency is the users' business (see fs/state.h): the arena gives
 * them memory that survives a crash at any instant exactly as the last
 * store left it, nothing more.
 *
 * Threading: create, attach and close from one thread; the lookups are
 * read-only and may run from any thread. No call blocks on the network.
 */
#ifndef CNM_COMMON_ARENA_H
#define CNM_COMMON_ARENA_H

#include <stddef.h>
#include <stdint.h>

#define ARENA_MAX_SECTIONS 16
#define ARENA_ALIGN	   4096u /* sections start on a page */

enum { ARENA_SEC_SECRET = 1 };

struct arena;

/* One section of a layout: id (any non-zero number, unique), bytes, flags
 * (ARENA_SEC_*). */
struct arena_sec {
	uint32_t id;
	uint32_t flags;
	uint64_t len;
};

/*
 * Creates a memfd named name (shows in /proc/PID/fd) holding the sections
 * secs[0..n), zero-filled, and maps it. layout: the caller's layout
 * version, checked by arena_attach(). 0, -EINVAL (n, ids or sizes), -ENOMEM
 * (-errno of memfd_create, ftruncate, mmap, mlock).
 */
int arena_create(const char *name, uint32_t layout,
		 const struct arena_sec *secs, unsigned int n,
		 struct arena **out);
/*
 * Maps the arena held by fd (from arena_fd() of another process, passed
 * down or inherited). Takes ownership of fd on success only. -EPROTO: not
 * an arena of this layout; -EINVAL: not a memfd of the right size.
 */
int arena_attach(int fd, uint32_t layout, struct arena **out);
/* Unmaps and closes; the content lives on while another descriptor or
 * mapping holds it. */
void arena_close(struct arena *a);

/* The memfd, owned by the arena (valid until arena_close()); CLOEXEC is
 * set: clear it (or dup2() it) to hand it to a successor. */
int arena_fd(const struct arena *a);
uint64_t arena_size(const struct arena *a);

/* The section id: its address in this process and its length; NULL when
 * the arena has no such section. */
void *arena_section(const struct arena *a, uint32_t id, uint64_t *len);

#endif

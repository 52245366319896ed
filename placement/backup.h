/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * backup - the disk backup: a sparse local file holding every written page
 * at its logical offset, one more copy next to the donor replicas.
 *
 * I/O is asynchronous: backup_submit() queues a struct backup_io (caller's
 * memory, borrowed until done()) for a small pool of worker threads that
 * pread/pwrite the file and call done() with 0 or -errno. Freed pages are
 * punched out (FALLOC_FL_PUNCH_HOLE) so the file stays sparse; a hole
 * reads as zeros.
 *
 * The file is created (or truncated: its old content belongs to no one)
 * at open, mode 0600, and sized to the logical capacity plus a tag area
 * of BACKUP_TAG bytes per page after it: a sealed store (placement/seal.h)
 * writes each page's AEAD tag there beside the page's ciphertext, in the
 * same io (backup_io.tags), so the file is encrypted and authenticated
 * the same way as a donor's copy.
 *
 * Threading: backup_submit(), backup_punch() and backup_bytes() from any
 * thread. done() runs on a backup worker thread and must not block for
 * long. q_lock guards the queue only; no lock is held across file I/O.
 * backup_close() is the last call: it finishes what is queued first.
 */
#ifndef CNM_PLACEMENT_BACKUP_H
#define CNM_PLACEMENT_BACKUP_H

#include <stdint.h>

#define BACKUP_PAGE 4096u
#define BACKUP_TAG  16u

struct backup;

struct backup_io {
	struct backup_io *next; /* owned by backup from submit to done */
	uint8_t dir;		/* enum xport_dir */
	uint32_t len;
	uint64_t off; /* logical byte offset */
	void *buf;    /* borrowed until done() */
	void *tags;   /* NULL, or len / BACKUP_PAGE tags, borrowed */
	void (*done)(struct backup_io *io, int status);
	void *priv;
};

/* 0 or -errno (the open/ftruncate error). nthreads 0 = default (2). */
int backup_open(const char *path, uint64_t size, unsigned int nthreads,
		struct backup **out);
/* The same keeping what the file holds (a store resumed after its server
 * died, issue 14). */
int backup_resume(const char *path, uint64_t size, unsigned int nthreads,
		  struct backup **out);
void backup_submit(struct backup *b, struct backup_io *io);
/* Deallocates [off, off+len); reads of it return zeros. 0 or -errno. */
int backup_punch(struct backup *b, uint64_t off, uint64_t len);
/* Bytes the file really occupies on disk. */
uint64_t backup_bytes(struct backup *b);
const char *backup_path(struct backup *b);
void backup_close(struct backup *b);

#endif

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * backup - sparse file at logical offsets, served by a few worker threads.
 */
#include "placement/backup.h"

#include "common/log.h"
#include "rdma/xport.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BACKUP_MAX_THREADS 8

struct backup {
	int fd;
	char *path;
	uint64_t size; /* logical bytes; the tag area starts there */
	pthread_mutex_t q_lock;
	pthread_cond_t q_cv;
	struct backup_io *head, *tail; /* protected by q_lock */
	bool stopping;		       /* protected by q_lock */
	unsigned int nthreads;
	pthread_t threads[BACKUP_MAX_THREADS];
};

static int do_range(struct backup *b, uint8_t dir, void *buf, uint32_t len,
		    uint64_t off)
{
	uint32_t done = 0;

	while (done < len) {
		char *p = (char *)buf + done;
		ssize_t n;

		if (dir == XPORT_WRITE)
			n = pwrite(b->fd, p, len - done, (off_t)(off + done));
		else
			n = pread(b->fd, p, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {
			/* past the end: cannot happen inside capacity */
			if (dir == XPORT_WRITE)
				return -EIO;
			memset(p, 0, len - done);
			break;
		}
		done += (uint32_t)n;
	}
	return 0;
}

static int do_io(struct backup *b, struct backup_io *io)
{
	int ret = do_range(b, io->dir, io->buf, io->len, io->off);

	if (!ret && io->tags)
		ret = do_range(b, io->dir, io->tags,
			       io->len / BACKUP_PAGE * BACKUP_TAG,
			       b->size + io->off / BACKUP_PAGE * BACKUP_TAG);
	return ret;
}

static void *worker(void *arg)
{
	struct backup *b = arg;

	for (;;) {
		struct backup_io *io;
		int ret;

		pthread_mutex_lock(&b->q_lock);
		while (!b->head && !b->stopping)
			pthread_cond_wait(&b->q_cv, &b->q_lock);
		io = b->head;
		if (!io) {
			pthread_mutex_unlock(&b->q_lock);
			break;
		}
		b->head = io->next;
		if (!b->head)
			b->tail = NULL;
		pthread_mutex_unlock(&b->q_lock);

		ret = do_io(b, io);
		if (ret)
			LOG_RATELIMITED(
				LOG_ERR, "backup %s: %s at %llu: %s", b->path,
				io->dir == XPORT_WRITE ? "write" : "read",
				(unsigned long long)io->off, strerror(-ret));
		io->next = NULL;
		io->done(io, ret);
	}
	return NULL;
}

static int open_file(const char *path, uint64_t size, unsigned int nthreads,
		     int keep, struct backup **out)
{
	struct backup *b;
	int ret;

	if (!path || !*path || !out)
		return -EINVAL;
	if (nthreads == 0)
		nthreads = 2;
	if (nthreads > BACKUP_MAX_THREADS)
		nthreads = BACKUP_MAX_THREADS;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->path = strdup(path);
	if (!b->path) {
		ret = -ENOMEM;
		goto out_free;
	}
	b->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | (keep ? 0 : O_TRUNC),
		     0600);
	if (b->fd < 0) {
		ret = -errno;
		goto out_free_path;
	}
	b->size = size;
	/* the tag area after the pages: sparse until sealed pages come */
	if (ftruncate(b->fd, (off_t)(size + size / BACKUP_PAGE * BACKUP_TAG)) <
	    0) {
		ret = -errno;
		goto out_close;
	}
	pthread_mutex_init(&b->q_lock, NULL);
	pthread_cond_init(&b->q_cv, NULL);
	for (b->nthreads = 0; b->nthreads < nthreads; b->nthreads++) {
		ret = -pthread_create(&b->threads[b->nthreads], NULL, worker,
				      b);
		if (ret)
			goto out_stop;
	}
	*out = b;
	return 0;

out_stop:
	pthread_mutex_lock(&b->q_lock);
	b->stopping = true;
	pthread_cond_broadcast(&b->q_cv);
	pthread_mutex_unlock(&b->q_lock);
	for (unsigned int i = 0; i < b->nthreads; i++)
		pthread_join(b->threads[i], NULL);
	pthread_cond_destroy(&b->q_cv);
	pthread_mutex_destroy(&b->q_lock);
out_close:
	close(b->fd);
out_free_path:
	free(b->path);
out_free:
	free(b);
	return ret;
}

int backup_open(const char *path, uint64_t size, unsigned int nthreads,
		struct backup **out)
{
	return open_file(path, size, nthreads, 0, out);
}

int backup_resume(const char *path, uint64_t size, unsigned int nthreads,
		  struct backup **out)
{
	return open_file(path, size, nthreads, 1, out);
}

void backup_submit(struct backup *b, struct backup_io *io)
{
	io->next = NULL;
	pthread_mutex_lock(&b->q_lock);
	if (b->tail)
		b->tail->next = io;
	else
		b->head = io;
	b->tail = io;
	pthread_cond_signal(&b->q_cv);
	pthread_mutex_unlock(&b->q_lock);
}

int backup_punch(struct backup *b, uint64_t off, uint64_t len)
{
	if (fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len) < 0) {
		int ret = -errno;

		/* no hole punching: write zeros so freed data does not linger */
		if (ret == -EOPNOTSUPP) {
			static const char zero[4096];

			for (uint64_t o = 0; o < len; o += sizeof(zero)) {
				size_t n = len - o < sizeof(zero)
						   ? (size_t)(len - o)
						   : sizeof(zero);

				if (pwrite(b->fd, zero, n, (off_t)(off + o)) <
				    0)
					return -errno;
			}
			return 0;
		}
		return ret;
	}
	return 0;
}

uint64_t backup_bytes(struct backup *b)
{
	struct stat st;

	if (fstat(b->fd, &st) < 0)
		return 0;
	return (uint64_t)st.st_blocks * 512;
}

const char *backup_path(struct backup *b)
{
	return b->path;
}

void backup_close(struct backup *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->q_lock);
	b->stopping = true;
	pthread_cond_broadcast(&b->q_cv);
	pthread_mutex_unlock(&b->q_lock);
	for (unsigned int i = 0; i < b->nthreads; i++)
		pthread_join(b->threads[i], NULL);
	pthread_cond_destroy(&b->q_cv);
	pthread_mutex_destroy(&b->q_lock);
	close(b->fd);
	free(b->path);
	free(b);
}

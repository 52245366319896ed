// SPDX-License-Identifier: GPL-2.0-or-later
#include "placement/backup.h"
#include "rdma/xport.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PG 4096

struct wait {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int left, errors, calls;
};

static void io_done(struct backup_io *io, int status)
{
	struct wait *w = io->priv;

	pthread_mutex_lock(&w->lock);
	w->calls++;
	if (status)
		w->errors++;
	if (--w->left == 0)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->lock);
}

static void run(struct backup *b, struct backup_io *ios, int n, uint8_t dir,
		char *buf, uint64_t base, uint64_t off_step, struct wait *w)
{
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->left = n;
	w->errors = w->calls = 0;
	for (int i = 0; i < n; i++) {
		ios[i].dir = dir;
		ios[i].off = base + (uint64_t)i * off_step;
		ios[i].len = PG;
		ios[i].buf = buf + (size_t)i * PG;
		ios[i].done = io_done;
		ios[i].priv = w;
		backup_submit(b, &ios[i]);
	}
	pthread_mutex_lock(&w->lock);
	while (w->left)
		pthread_cond_wait(&w->cv, &w->lock);
	pthread_mutex_unlock(&w->lock);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->lock);
	ck_assert_int_eq(w->calls, n); /* each done() exactly once */
}

static int is_zero(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

static void path_of(char *p, size_t len)
{
	const char *dir = getenv("TMPDIR");

	snprintf(p, len, "%s/cnm-backup-%d", dir ? dir : "/tmp", (int)getpid());
}

START_TEST(pages_written_read_back_holes_read_zero_punch_frees)
{
	enum { N = 256 };
	static char wbuf[N * PG], rbuf[N * PG];
	static struct backup_io ios[N];
	struct backup *b;
	struct wait w;
	char path[256];
	uint64_t before;

	path_of(path, sizeof(path));
	ck_assert_int_eq(backup_open(path, 64ull << 20, 3, &b), 0);
	ck_assert_str_eq(backup_path(b), path);
	for (size_t i = 0; i < sizeof(wbuf); i++)
		wbuf[i] = (char)(i * 7 + i / PG);
	/* every other page: the ones between stay holes */
	run(b, ios, N, XPORT_WRITE, wbuf, 0, 2 * PG, &w);
	ck_assert_int_eq(w.errors, 0);
	before = backup_bytes(b);
	ck_assert_uint_ge(before, (uint64_t)N * PG);
	memset(rbuf, 0x55, sizeof(rbuf));
	run(b, ios, N, XPORT_READ, rbuf, 0, 2 * PG, &w);
	ck_assert_int_eq(w.errors, 0);
	ck_assert_int_eq(memcmp(rbuf, wbuf, sizeof(rbuf)), 0);
	/* the odd pages between them are holes: zeros */
	memset(rbuf, 0x55, sizeof(rbuf));
	run(b, ios, N, XPORT_READ, rbuf, PG, 2 * PG, &w);
	ck_assert_int_eq(w.errors, 0);
	ck_assert(is_zero(rbuf, sizeof(rbuf)));
	/* punching the written pages gives the space back */
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(backup_punch(b, (uint64_t)i * 2 * PG, PG), 0);
	ck_assert_uint_lt(backup_bytes(b), before / 2);
	run(b, ios, N, XPORT_READ, rbuf, 0, 2 * PG, &w);
	ck_assert(is_zero(rbuf, sizeof(rbuf)));
	backup_close(b);
	unlink(path);
}
END_TEST

START_TEST(open_reports_a_bad_path)
{
	struct backup *b = NULL;

	ck_assert_int_eq(backup_open("/nonexistent-dir/x", 1 << 20, 0, &b),
			 -ENOENT);
	ck_assert_ptr_null(b);
	ck_assert_int_eq(backup_open("", 1 << 20, 0, &b), -EINVAL);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"backup", NULL,
		CNM_TESTS(pages_written_read_back_holes_read_zero_punch_frees,
			  open_reports_a_bad_path));
}

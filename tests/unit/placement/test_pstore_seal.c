// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The sealed page store (issue 13) over XPORT_MEM donors: what a donor
 * holds is ciphertext, and whatever a hostile donor does to it (flipped
 * bytes in a page or its tag, an old version of the page, another page's
 * ciphertext) never reaches the reader: another copy, then the backup,
 * else EIO; the failures are counted against that donor.
 */
#include "pstore_util.h"
#include "tests/unit/check_run.h"

#include <fcntl.h>

#define MARK "cnetmem-secret-marker-7d1f"

struct where {
	struct xport *x;
	uint32_t rslab, pps;
	uint64_t data, tag; /* byte offsets in the remote slab */
};

static void raw_done(struct xport_io *io, int status)
{
	struct sreq *s = io->priv;

	sreq_done(&s->r, status);
}

/* One raw io on a donor's slab, as the donor itself could do it. */
static int raw(struct xport *x, enum xport_dir dir, uint32_t rslab,
	       uint64_t off, void *buf, uint32_t len)
{
	struct sreq s;
	struct xport_io io = { .dir = dir,
			       .slab = rslab,
			       .off = off,
			       .len = len,
			       .buf = buf,
			       .done = raw_done,
			       .priv = &s };

	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cv, NULL);
	xport_submit(x, &io);
	return sreq_wait(&s);
}

/* Where page lpn and its tag live on copy k of its slab. */
static struct where where(struct pstore *ps, uint64_t lpn, int k)
{
	unsigned int d[PSTORE_MAX_REPLICAS];
	uint32_t rs[PSTORE_MAX_REPLICAS];
	struct where w;
	uint32_t p;

	ck_assert_int_gt(pstore_test_slab_replicas(ps, lpn, d, rs), k);
	w.pps = pstore_test_pages_per_slab(ps);
	p = (uint32_t)(lpn % w.pps);
	w.x = pstore_test_xport(ps, d[k]);
	w.rslab = rs[k];
	w.data = (uint64_t)p * PSTORE_PAGE;
	w.tag = (uint64_t)w.pps * PSTORE_PAGE + (uint64_t)p * 16;
	return w;
}

static unsigned int donor_of(struct pstore *ps, uint64_t lpn, int k)
{
	unsigned int d[PSTORE_MAX_REPLICAS];
	uint32_t rs[PSTORE_MAX_REPLICAS];

	ck_assert_int_gt(pstore_test_slab_replicas(ps, lpn, d, rs), k);
	return d[k];
}

/* Flips one bit of page lpn's copy k: in the data, or in its tag. */
static void flip(struct pstore *ps, uint64_t lpn, int k, bool tag)
{
	struct where w = where(ps, lpn, k);
	char b[PSTORE_PAGE];
	uint64_t off = tag ? w.tag : w.data;
	uint32_t len = tag ? 16 : PSTORE_PAGE;

	ck_assert_int_eq(raw(w.x, XPORT_READ, w.rslab, off, b, len), 0);
	b[len / 2] ^= 0x20;
	ck_assert_int_eq(raw(w.x, XPORT_WRITE, w.rslab, off, b, len), 0);
}

/* Page and tag of lpn's copy k, out (save) or back in (!save). */
static void page_io(struct pstore *ps, uint64_t lpn, int k, char *pg, char *tag,
		    bool save)
{
	struct where w = where(ps, lpn, k);
	enum xport_dir dir = save ? XPORT_READ : XPORT_WRITE;

	ck_assert_int_eq(raw(w.x, dir, w.rslab, w.data, pg, PSTORE_PAGE), 0);
	ck_assert_int_eq(raw(w.x, dir, w.rslab, w.tag, tag, 16), 0);
}

static struct pstore *open_sealed(unsigned int ndonors, unsigned int r,
				  const char *backup)
{
	seal_mode = PSTORE_SEAL_ON;
	return open_mem(ndonors, NULL, r, 16 * MiB, 1 * MiB, backup);
}

static void fill_marked(char *buf, uint64_t lpn, uint32_t gen)
{
	fill(buf, lpn, gen);
	memcpy(buf + 1000, MARK, sizeof(MARK) - 1);
}

START_TEST(donor_memory_holds_no_plaintext_and_pages_read_back)
{
	enum { N = 64 };
	struct pstore *ps = open_sealed(1, 1, NULL);
	static char buf[N * PSTORE_PAGE], slab[1 << 20];
	static uint64_t lpn[N];
	struct where w;
	char json[4096];

	alloc_all(ps, lpn, N, N, 0);
	for (int i = 0; i < N; i++)
		fill_marked(buf + (size_t)i * PSTORE_PAGE, lpn[i], 1);
	ck_assert_int_eq(io(ps, XPORT_WRITE, lpn, N, buf), 0);
	ck_assert_ptr_null(memmem(buf, sizeof(buf), MARK, sizeof(MARK) - 1));
	w = where(ps, lpn[0], 0);
	ck_assert_int_eq(raw(w.x, XPORT_READ, w.rslab, 0, slab, sizeof(slab)),
			 0);
	ck_assert_ptr_null(memmem(slab, sizeof(slab), MARK, sizeof(MARK) - 1));
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(io(ps, XPORT_READ, lpn, N, buf), 0);
	for (int i = 0; i < N; i++) {
		char want[PSTORE_PAGE];

		fill_marked(want, lpn[i], 1);
		ck_assert_mem_eq(buf + (size_t)i * PSTORE_PAGE, want,
				 PSTORE_PAGE);
	}
	ck_assert_int_gt(pstore_json(ps, json, sizeof(json)), 0);
	ck_assert_ptr_nonnull(
		strstr(json, "\"encryption\":\"aes256gcm\"")
			?: strstr(json, "\"encryption\":\"xchacha"));
	pstore_close(ps);
}
END_TEST

START_TEST(a_flipped_byte_on_one_copy_is_read_from_the_other_and_counted)
{
	struct pstore *ps = open_sealed(2, 2, NULL);
	char buf[PSTORE_PAGE];
	uint64_t p = write_new(ps, 5, 1, buf), q = write_new(ps, 6, 1, buf);
	unsigned int bad = donor_of(ps, p, 0);

	no_new_copies(ps, true); /* the bad copy stays a copy, not refilled */
	flip(ps, p, 0, _i);
	/* the bad copy may be tried first or second: never read wrong */
	for (int i = 0; i < 4; i++) {
		memset(buf, 0, sizeof(buf));
		ck_assert_int_eq(io1(ps, XPORT_READ, p, buf), 0);
		ck_assert(check_page(buf, p, 1));
	}
	ck_assert_int_eq(io1(ps, XPORT_READ, q, buf), 0);
	ck_assert(check_page(buf, q, 1));
	ck_assert_uint_le(pstore_test_bad_pages(ps, bad), 1);
	ck_assert_uint_eq(pstore_test_bad_pages(ps, 1 - bad), 0);
	/* force the bad copy first: counted, then dropped as a copy */
	fail_donor(ps, 1 - bad, -EIO);
	ck_assert_int_eq(io1(ps, XPORT_READ, p, buf), -EIO);
	fail_donor(ps, 1 - bad, 0);
	ck_assert_uint_ge(pstore_test_bad_pages(ps, bad), 1);
	pstore_close(ps);
}
END_TEST

START_TEST(with_one_copy_a_flipped_byte_reads_eio_and_the_rest_reads_back)
{
	struct pstore *ps = open_sealed(1, 1, NULL);
	char buf[PSTORE_PAGE];
	uint64_t p = write_new(ps, 5, 1, buf), q = write_new(ps, 6, 1, buf);
	uint64_t two[2] = { p, q };
	char b2[2 * PSTORE_PAGE];

	flip(ps, p, 0, _i);
	ck_assert_int_eq(io1(ps, XPORT_READ, p, buf), -EIO);
	/* a run holding the bad page fails whole, never half right */
	ck_assert_int_eq(io(ps, XPORT_READ, two, 2, b2), -EIO);
	ck_assert_int_eq(io1(ps, XPORT_READ, q, buf), 0);
	ck_assert(check_page(buf, q, 1));
	ck_assert_uint_ge(pstore_test_bad_pages(ps, 0), 1);
	/* written again, the page is good again */
	fill(buf, p, 2);
	ck_assert_int_eq(io1(ps, XPORT_WRITE, p, buf), 0);
	ck_assert_int_eq(io1(ps, XPORT_READ, p, buf), 0);
	ck_assert(check_page(buf, p, 2));
	pstore_close(ps);
}
END_TEST

START_TEST(an_old_version_handed_back_is_refused)
{
	/* _i = 0: one copy, EIO; 1: two copies, the good one is read */
	struct pstore *ps = open_sealed(_i ? 2 : 1, _i ? 2 : 1, NULL);
	char buf[PSTORE_PAGE], oldpg[PSTORE_PAGE], oldtag[16];
	uint64_t p = write_new(ps, 5, 1, buf);
	uint32_t v1 = pstore_test_page_version(ps, p);

	no_new_copies(ps, true);
	page_io(ps, p, 0, oldpg, oldtag, true);
	fill(buf, p, 2);
	ck_assert_int_eq(io1(ps, XPORT_WRITE, p, buf), 0);
	ck_assert_uint_eq(pstore_test_page_version(ps, p), v1 + 1);
	page_io(ps, p, 0, oldpg, oldtag, false); /* the rollback */
	if (!_i) {
		ck_assert_int_eq(io1(ps, XPORT_READ, p, buf), -EIO);
	} else {
		fail_donor(ps, donor_of(ps, p, 1), -EIO);
		ck_assert_int_eq(io1(ps, XPORT_READ, p, buf), -EIO);
		fail_donor(ps, donor_of(ps, p, 1), 0);
		ck_assert_int_eq(io1(ps, XPORT_READ, p, buf), 0);
		ck_assert(check_page(buf, p, 2));
	}
	pstore_close(ps);
}
END_TEST

START_TEST(another_pages_ciphertext_handed_back_is_refused)
{
	struct pstore *ps = open_sealed(1, 1, NULL);
	char buf[PSTORE_PAGE], pg[PSTORE_PAGE], tag[16];
	uint64_t p = write_new(ps, 5, 1, buf), q = write_new(ps, 9, 1, buf);

	page_io(ps, p, 0, pg, tag, true);
	page_io(ps, q, 0, pg, tag, false); /* q now holds p's page and tag */
	ck_assert_int_eq(io1(ps, XPORT_READ, q, buf), -EIO);
	ck_assert_int_eq(io1(ps, XPORT_READ, p, buf), 0);
	ck_assert(check_page(buf, p, 1));
	pstore_close(ps);
}
END_TEST

START_TEST(the_backup_is_sealed_and_serves_when_the_donor_copy_is_bad)
{
	struct pstore *ps;
	char path[256], buf[PSTORE_PAGE], json[4096];
	static char file[1 << 20];
	uint64_t p;
	int fd;
	ssize_t n;

	tmp_path(path, sizeof(path), "sealbackup");
	ps = open_sealed(1, 1, path);
	ck_assert_int_eq(pstore_page_alloc(ps, 3, &p), 0);
	fill_marked(buf, p, 1);
	ck_assert_int_eq(io1(ps, XPORT_WRITE, p, buf), 0);
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	n = pread(fd, file, sizeof(file), 0);
	ck_assert_int_gt(n, 0);
	ck_assert_ptr_null(memmem(file, (size_t)n, MARK, sizeof(MARK) - 1));
	/* the donor's copy is bad: the backup answers */
	flip(ps, p, 0, false);
	ck_assert_int_eq(io1(ps, XPORT_READ, p, buf), 0);
	fill_marked(file, p, 1);
	ck_assert_mem_eq(buf, file, PSTORE_PAGE);
	/* and the backup's copy bad too: EIO, counted */
	ck_assert_int_eq(pread(fd, file, 1, (off_t)(p * PSTORE_PAGE + 77)), 1);
	file[0] ^= 1;
	ck_assert_int_eq(pwrite(fd, file, 1, (off_t)(p * PSTORE_PAGE + 77)), 1);
	ck_assert_int_eq(io1(ps, XPORT_READ, p, buf), -EIO);
	ck_assert_int_gt(pstore_json(ps, json, sizeof(json)), 0);
	ck_assert_ptr_nonnull(strstr(json, "\"integrity_failures\":1}"));
	close(fd);
	pstore_close(ps);
	unlink(path);
}
END_TEST

START_TEST(a_donor_that_keeps_failing_is_faulty_and_its_copies_rebuilt)
{
	enum { N = 12 };
	struct pstore *ps = open_sealed(3, 2, NULL);
	static char buf[PSTORE_PAGE], json[8192];
	uint64_t lpn[N];
	unsigned int bad, good;
	int tries;

	alloc_all(ps, lpn, N, N, 0);
	write_all(ps, lpn, NULL, N, 1);
	bad = donor_of(ps, lpn[0], 0);
	good = donor_of(ps, lpn[0], 1);
	for (int i = 0; i < N && pstore_test_bad_pages(ps, bad) < 8; i++) {
		flip(ps, lpn[i], 0, false);
		/* only the bad copy answers, so each page counts */
		fail_donor(ps, good, -EIO);
		ck_assert_int_eq(io1(ps, XPORT_READ, lpn[i], buf), -EIO);
		fail_donor(ps, good, 0);
	}
	ck_assert_int_gt(pstore_json(ps, json, sizeof(json)), 0);
	ck_assert_ptr_nonnull(strstr(json, "\"state\":\"faulty\""));
	/* every page reads right; the slab gets a copy off the bad donor */
	for (tries = 0; tries < 100; tries++) {
		unsigned int d[PSTORE_MAX_REPLICAS];
		uint32_t rs[PSTORE_MAX_REPLICAS];

		if (pstore_test_slab_replicas(ps, lpn[0], d, rs) == 2 &&
		    d[0] != bad && d[1] != bad)
			break;
		usleep(50000);
	}
	ck_assert_int_lt(tries, 100);
	read_all(ps, lpn, N, 1);
	pstore_close(ps);
}
END_TEST

struct racer {
	struct pstore *ps;
	uint64_t lpn;
	atomic_int stop;
	uint32_t gens;
};

static void *rewrite(void *arg)
{
	struct racer *r = arg;
	char buf[PSTORE_PAGE];

	while (!atomic_load(&r->stop)) {
		fill(buf, r->lpn, ++r->gens);
		ck_assert_int_eq(io1(r->ps, XPORT_WRITE, r->lpn, buf), 0);
	}
	return NULL;
}

START_TEST(reads_racing_writes_of_the_page_get_a_whole_version)
{
	struct pstore *ps = open_sealed(2, 2, NULL);
	struct racer r = { .ps = ps };
	char buf[PSTORE_PAGE];
	pthread_t t;

	r.lpn = write_new(ps, 0, 0, buf);
	ck_assert_int_eq(pthread_create(&t, NULL, rewrite, &r), 0);
	for (int i = 0; i < 3000; i++) {
		uint32_t g;

		ck_assert_int_eq(io1(ps, XPORT_READ, r.lpn, buf), 0);
		g = (uint32_t)(((uint64_t *)buf)[0] >> 48);
		ck_assert(check_page(buf, r.lpn, g));
	}
	atomic_store(&r.stop, 1);
	pthread_join(t, NULL);
	ck_assert_uint_eq(pstore_test_bad_pages(ps, 0), 0);
	ck_assert_uint_eq(pstore_test_bad_pages(ps, 1), 0);
	pstore_close(ps);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pstore_seal");

	cnm_check_tcase(
		s, "pstore_seal",
		&(const struct cnm_tcase_opt){ .timeout = 30 },
		CNM_TESTS(
			donor_memory_holds_no_plaintext_and_pages_read_back,
			another_pages_ciphertext_handed_back_is_refused,
			the_backup_is_sealed_and_serves_when_the_donor_copy_is_bad,
			a_donor_that_keeps_failing_is_faulty_and_its_copies_rebuilt,
			reads_racing_writes_of_the_page_get_a_whole_version));
	/* _i = 0: a bit of the page; 1: a bit of its tag */
	cnm_check_tcase(
		s, "flipped",
		&(const struct cnm_tcase_opt){ .timeout = 30, .loop = 2 },
		CNM_TESTS(
			a_flipped_byte_on_one_copy_is_read_from_the_other_and_counted,
			with_one_copy_a_flipped_byte_reads_eio_and_the_rest_reads_back,
			an_old_version_handed_back_is_refused));
	return cnm_check_run(s);
}

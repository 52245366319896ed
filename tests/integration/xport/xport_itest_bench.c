// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * xport_itest_bench - latency and throughput figures of a transport (no
 * assertion on timing).
 */
#include "xport_itest.h"

/* --- measurements (no assertions on timing) --- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct tput {
	struct xport *x;
	uint32_t slab;
	unsigned int id, n, errors;
};

static void *tput_main(void *arg)
{
	struct tput *t = arg;
	static __thread uint8_t buf[PAGE];
	unsigned int i;

	for (i = 0; i < t->n; i++)
		if (sync_io(t->x, (i & 1) ? XPORT_READ : XPORT_WRITE, t->slab,
			    (uint64_t)((t->id * 31 + i * 7) % 256) * PAGE, buf,
			    PAGE))
			t->errors++;
	return NULL;
}

int cmd_bench(void)
{
	enum { N = 5000, TN = 8, TOPS = 20000 };
	static uint64_t lat[N];
	uint8_t buf[PAGE] = { 1 };
	struct xport_cfg cfg;
	struct xport_stats st;
	struct xport_slab s;
	struct tput t[TN];
	pthread_t th[TN];
	struct xport *x;
	uint64_t t0, p0, o0;
	int i, d, ret;

	cfg_init(&cfg, NULL, 5);
	if (!strcmp(host, "mem")) { /* the local-memory backend */
		cfg.kind = XPORT_MEM;
		cfg.mem_bytes = 64 << 20;
	}
	ret = open_up(&cfg, &x);
	if (ret || xport_alloc(x, &s))
		return 1;
	for (d = 0; d < 2; d++) {
		for (i = 0; i < N; i++) {
			t0 = mono_ns();
			ret = sync_io(x, d ? XPORT_READ : XPORT_WRITE, s.slab,
				      (uint64_t)(i % 256) * PAGE, buf, PAGE);
			lat[i] = mono_ns() - t0;
			if (ret) {
				fprintf(stderr, "bench: io failed: %d\n", ret);
				return 1;
			}
		}
		qsort(lat, N, sizeof(lat[0]), cmp_u64);
		printf("sync 4 KiB %s: median %.1f us, p90 %.1f us, p99 %.1f "
		       "us\n",
		       d ? "read" : "write", lat[N / 2] / 1e3,
		       lat[N * 9 / 10] / 1e3, lat[N * 99 / 100] / 1e3);
	}
	xport_get_stats(x, &st);
	p0 = st.posts;
	o0 = st.ops;
	t0 = mono_ns();
	for (i = 0; i < TN; i++) {
		t[i] = (struct tput){ x, s.slab, i, TOPS / TN, 0 };
		pthread_create(&th[i], NULL, tput_main, &t[i]);
	}
	for (i = 0; i < TN; i++) {
		pthread_join(th[i], NULL);
		if (t[i].errors) {
			fprintf(stderr, "bench: %u ios failed\n", t[i].errors);
			return 1;
		}
	}
	t0 = mono_ns() - t0;
	xport_get_stats(x, &st);
	printf("%d sync submitters, 4 KiB r/w: %.0f ops/s, %.1f MiB/s, "
	       "%.2f ops/post\n",
	       TN, TOPS / (t0 / 1e9),
	       TOPS * (double)PAGE / (1 << 20) / (t0 / 1e9),
	       (double)(st.ops - o0) / (st.posts - p0));

	/* pipelined: 8 threads, 32 requests in flight each, 1-8 pages */
	{
		static struct worker w[TN];
		uint64_t ios0 = st.ios,
			 bytes0 = st.bytes_read + st.bytes_written;

		p0 = st.posts;
		o0 = st.ops;

		t0 = mono_ns();
		for (i = 0; i < TN; i++) {
			worker_init(&w[i], x, s.slab,
				    (uint64_t)i * (SLAB / TN / PAGE) * PAGE,
				    SLAB / TN / PAGE, 1000 + i);
			w[i].nops = 2500;
			pthread_create(&th[i], NULL, worker_main, &w[i]);
		}
		for (i = 0; i < TN; i++) {
			pthread_join(th[i], NULL);
			worker_drain(&w[i], HANG_MS);
		}
		t0 = mono_ns() - t0;
		xport_get_stats(x, &st);
		printf("%d pipelined submitters (32 in flight each), 4-32 KiB "
		       "r/w: %.0f ios/s, %.1f MiB/s, %.2f ops/post, %llu "
		       "errors\n",
		       TN, (st.ios - ios0) / (t0 / 1e9),
		       (st.bytes_read + st.bytes_written - bytes0) /
			       (double)(1 << 20) / (t0 / 1e9),
		       (double)(st.ops - o0) / (st.posts - p0),
		       (unsigned long long)st.errors);
		for (i = 0; i < TN; i++)
			worker_fini(&w[i]);
	}
	xport_close(x);
	return 0;
}

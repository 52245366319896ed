// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cnetmem-donor - lends this machine's idle memory to cnetmem clients.
 *
 * main: settings, key, the loopback rule, daemonizing, then the core
 * (pool + sessions) and the listeners, then waits for SIGTERM/SIGINT and
 * tears everything down in reverse order.
 */
#include "cnm_config.h"
#include "common/cpu_latency.h"
#include "common/log.h"
#include "common/parse.h"
#include "donor/config.h"
#include "donor/meminfo.h"
#include "donor/pool.h"
#include "donor/server.h"
#include "donor/session.h"
#include "rdma/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef CNM_DONOR_RDMA
#define CNM_DONOR_RDMA 0
#endif

#define USAGE                                                                  \
	"cnetmem-donor [--config FILE] --listen ADDR:PORT --memory SIZE "      \
	"[--key-file FILE] [--port-file FILE] [--foreground] [--insecure] "    \
	"[--grace-period SECONDS] [--transport tcp|rdma|auto] "                \
	"[--max-clients N] [--low-watermark SIZE] [--high-watermark SIZE]"

/* Writes the port to path through a temporary file and rename(2). */
/*
 * max-clients 0: each client costs a descriptor (and a thread), so serve
 * as many as the descriptor limit allows once the soft limit is raised
 * to the hard one, keeping 64 for listeners, handshakes and files.
 */
static long clients_limit(void)
{
	struct rlimit rl;
	rlim_t n;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t cur = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			rl.rlim_cur = cur;
	}
	n = rl.rlim_cur == RLIM_INFINITY ? (1u << 20) : rl.rlim_cur;
	if (n > (1u << 20))
		n = 1u << 20;
	return n > 128 ? (long)(n - 64) : 64;
}

static int write_port_file(const char *path, uint16_t port)
{
	char tmp[4096], text[16];
	int fd, n, ret = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(text, sizeof(text), "%u\n", port);
	if (write(fd, text, n) != n || fsync(fd) < 0)
		ret = errno ? -errno : -EIO;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

int main(int argc, char **argv)
{
	struct donor_opts c = { 0 };
	struct donor_server *tcp = NULL, *rdma = NULL;
	struct donor_server_cfg scfg = { 0 };
	struct donor_cfg dcfg = { 0 };
	struct auth_key key = { 0 };
	struct donor *d = NULL;
	struct pool *pool = NULL;
	char host[256], port[32], err[512], sz[32];
	const char *pos[1];
	uint16_t bound = 0;
	uint64_t avail;
	sigset_t sigs;
	struct opts o;
	int npos, ret, sig, lb, qos = -1, status = EXIT_FAILURE;

	if (auth_init()) {
		log_err("donor: cannot initialise libsodium");
		return EXIT_FAILURE;
	}
	if (opts_init(&o, donor_opt_defs, &c)) {
		log_err("donor: %s", o.err);
		return EXIT_FAILURE;
	}
	ret = opts_parse_argv(&o, argc, argv, pos, 0, &npos, USAGE);
	if (ret == 1) {
		status = EXIT_SUCCESS;
		goto out_opts;
	}
	if (ret || donor_opts_validate(&o, &c)) {
		log_err("donor: %s", o.err);
		goto out_opts;
	}
	log_set_level(donor_syslog_level(c.log_level));
	parse_hostport(c.listen, NULL, host, sizeof(host), port, sizeof(port));
	if (c.key_file && auth_key_load(c.key_file, &key, err, sizeof(err))) {
		log_err("donor: %s", err);
		goto out_opts;
	}
	if (!key.set) {
		lb = donor_addr_is_loopback(host);
		if (lb < 0) {
			log_err("donor: listen address %s does not resolve",
				host);
			goto out_opts;
		}
		if (!lb && !c.insecure) {
			log_err("donor: refusing to serve %s without a key: "
				"give --key-file, or --insecure to accept "
				"anyone who can reach this address",
				host);
			goto out_opts;
		}
		if (!lb)
			log_warn("donor: INSECURE: serving %s WITHOUT "
				 "AUTHENTICATION; anyone who reaches it can "
				 "read and write donated memory",
				 host);
	}
	if (c.transport == DONOR_RDMA && !CNM_DONOR_RDMA) {
		log_err("donor: transport: rdma is not built in "
			"(needs libibverbs and librdmacm at build time)");
		goto out_opts;
	}
	if (!c.foreground) {
		if (daemon(1, 0) < 0) {
			log_err("donor: daemon: %s", strerror(errno));
			goto out_opts;
		}
		log_to_syslog("cnetmem-donor");
	}
	/* signals are taken with sigwait() below; threads inherit the mask */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (c.cpu_latency_us >= 0) {
		qos = cpu_latency_hold(c.cpu_latency_us);
		if (qos < 0) {
			log_err("donor: cpu-latency: cannot hold a PM QoS "
				"request on /dev/cpu_dma_latency: %s (needs "
				"root)",
				strerror(-qos));
			goto out_opts;
		}
	}
	/* touching more than the host has would bring the OOM killer */
	if (!meminfo_read(c.meminfo_file, &avail) && c.memory > avail) {
		log_err("donor: memory: %s asked for, but the host has only "
			"%s available",
			format_size(c.memory, sz, sizeof(sz)),
			format_size(avail, err, sizeof(err)));
		goto out_opts;
	}
	if (pool_create(c.memory, 0, &pool, err, sizeof(err))) {
		log_err("donor: %s", err);
		goto out_opts;
	}
	if (!c.max_clients)
		c.max_clients = clients_limit();
	dcfg.grace_ms = (unsigned int)c.grace_period * 1000;
	dcfg.max_conns = (unsigned int)c.max_clients;
	dcfg.low_watermark = c.low_watermark;
	dcfg.high_watermark = c.high_watermark;
	dcfg.evict_wait_ms = (unsigned int)c.evict_wait * 1000;
	dcfg.caps = key.set ? PROTO_CAP_AUTH : 0;
	dcfg.meminfo_path = c.meminfo_file;
	if (CNM_DONOR_RDMA && c.transport != DONOR_TCP)
		dcfg.caps |= PROTO_CAP_RDMA;
	ret = donor_create(&dcfg, pool, &d);
	if (ret) {
		log_err("donor: %s", strerror(-ret));
		pool_destroy(pool);
		goto out_opts;
	}
	scfg.host = host;
	scfg.port = port;
	scfg.key = &key;
	scfg.caps = dcfg.caps;
	scfg.hs_timeout_ms = (unsigned int)c.handshake_timeout * 1000;
	/* room for handshakes in flight beyond the clients served */
	scfg.max_conns = (unsigned int)c.max_clients + 64;
	if (c.transport != DONOR_RDMA &&
	    tcp_server_start(d, &scfg, &tcp, &bound, err, sizeof(err))) {
		log_err("donor: %s", err);
		goto out_donor;
	}
#if CNM_DONOR_RDMA
	if (c.transport != DONOR_TCP) {
		char rport[16];

		/* the RDMA listener takes the same port as TCP */
		if (tcp) {
			snprintf(rport, sizeof(rport), "%u", bound);
			scfg.port = rport;
		}
		ret = rdma_server_start(d, &scfg, &rdma, &bound, err,
					sizeof(err));
		if (ret && c.transport == DONOR_RDMA) {
			log_err("donor: %s", err);
			goto out_servers;
		}
		if (ret) {
			log_notice("donor: rdma: %s; serving tcp only", err);
			donor_set_caps(d, dcfg.caps & ~PROTO_CAP_RDMA);
		}
	}
#endif
	if (c.port_file) {
		ret = write_port_file(c.port_file, bound);
		if (ret) {
			log_err("donor: port file %s: %s", c.port_file,
				strerror(-ret));
			goto out_servers;
		}
	}
	log_notice("donor: serving %s of memory on %s:%u (%s%s, %s, grace "
		   "period %lds)",
		   format_size(pool_total_bytes(pool), sz, sizeof(sz)), host,
		   bound, tcp ? "tcp" : "", rdma ? " rdma" : "",
		   key.set ? "key required" : "no key", c.grace_period);
	if (!pool_hugetlb(pool))
		log_info("donor: no hugetlb pages; using normal pages with "
			 "transparent huge pages where possible");

	do
		ret = sigwait(&sigs, &sig);
	while (ret == EINTR);
	log_notice("donor: signal %d, shutting down", sig);
	status = EXIT_SUCCESS;
	if (c.port_file)
		unlink(c.port_file);
out_servers:
#if CNM_DONOR_RDMA
	rdma_server_stop(rdma);
#endif
	tcp_server_stop(tcp);
out_donor:
	donor_destroy(d);
out_opts:
	cpu_latency_release(qos);
	opts_free(&o);
	memset(&key, 0, sizeof(key));
	return status;
}

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cnetmem-donor - lends this machine's idle memory to cnetmem clients.
 *
 * main: settings, key, the loopback rule, then (in the background) a fork
 * whose parent waits for the child's word, then the core (pool + sessions)
 * and the listeners, then service_ready() (the parent exits 0, systemd
 * gets READY=1), then waits for SIGTERM/SIGINT and tears everything down
 * in reverse order. Everything that can fail happens before ready, with
 * stderr still the caller's: a port in use or too much memory asked for
 * is an error message and exit status 1, in the background too.
 */
#include "cnm_config.h"
#include "common/cpu_latency.h"
#include "common/log.h"
#include "common/metrics_http.h"
#include "common/parse.h"
#include "common/service.h"
#include "donor/config.h"
#include "donor/keys.h"
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

#define NLISTENERS 4

#define USAGE                                                                  \
	"cnetmem-donor [--config FILE] --listen ADDR:PORT --memory SIZE "      \
	"[--key-file FILE] [--client NAME:KEYFILE[:QUOTA]]... "                \
	"[--operator-key-file FILE] [--port-file FILE] [--foreground] "        \
	"[--insecure] "                                                        \
	"[--grace-period SECONDS] [--transport tcp|rdma|auto] "                \
	"[--max-clients N] [--low-watermark SIZE] [--high-watermark SIZE] "    \
	"[--metrics-listen ADDR:PORT] [--log-level LEVEL] [--version]"

/* A large pool takes a while to touch: say how far it got. */
static void reserve_progress(uint64_t done, uint64_t total, void *arg)
{
	char a[32], b[32];

	format_size(done, a, sizeof(a));
	format_size(total, b, sizeof(b));
	log_info("donor: reserving memory: %s of %s", a, b);
	service_status("reserving memory: %s of %s", a, b);
}

/* The listener of the table named name, or NULL when not built. */
static const struct donor_listener *listener_named(const char *name)
{
	const struct donor_listener *const *l;

	for (l = donor_listeners; *l; l++)
		if (!strcmp((*l)->name, name))
			return *l;
	return NULL;
}

/*
 * Each TCP client costs a descriptor: the soft limit is raised to the
 * hard one, and max-clients 0 serves as many as that allows, keeping 64
 * for listeners, handshakes and files. A larger max-clients is warned
 * about: past the limit, accepts wait for a descriptor to free.
 */
static long clients_limit(long max_clients)
{
	struct rlimit rl;
	rlim_t n;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return max_clients ? max_clients : 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t cur = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			rl.rlim_cur = cur;
	}
	n = rl.rlim_cur == RLIM_INFINITY ? (1u << 20) : rl.rlim_cur;
	if (n > (1u << 20))
		n = 1u << 20;
	n = n > 128 ? n - 64 : 64;
	if (!max_clients)
		return (long)n;
	if ((rlim_t)max_clients > n)
		log_warn("donor: max-clients %ld is more than the descriptor "
			 "limit allows (%lu); new connections will wait for "
			 "descriptors",
			 max_clients, (unsigned long)n);
	return max_clients;
}

/* Writes the port to path through a temporary file and rename(2). */
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
	struct donor_server *srv[NLISTENERS] = { NULL };
	const struct donor_listener *const *l;
	struct metrics_http *mh = NULL;
	char served[64] = "";
	unsigned int i;
	struct donor_server_cfg scfg = { 0 };
	struct donor_cfg dcfg = { 0 };
	struct auth_keyring kr = { 0 };
	struct donor *d = NULL;
	struct pool *pool = NULL;
	char host[256], port[32], err[512], sz[32];
	const char *pos[1];
	uint16_t bound = 0, mport = 0;
	uint64_t avail;
	sigset_t sigs;
	struct opts o;
	int npos, ret, sig, qos = -1, status = EXIT_FAILURE;

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
	log_set_level(log_level_of(c.log_level));
	parse_hostport(c.listen, NULL, host, sizeof(host), port, sizeof(port));
	if (donor_keyring_load(&c, &kr, err, sizeof(err))) {
		log_err("donor: %s", err);
		goto out_opts;
	}
	if (kr.n && c.insecure) {
		log_err("donor: --insecure serves without keys, but keys are "
			"given; drop one or the other");
		goto out_keys;
	}
	if (!kr.n && !c.insecure) {
		log_err("donor: no key: give --key-file, --client or "
			"--operator-key-file (or --insecure to let anyone who "
			"reaches %s read and write donated memory)",
			host);
		goto out_keys;
	}
	if (!kr.n)
		log_warn(
			"donor: INSECURE: serving %s WITHOUT AUTHENTICATION; "
			"any process or host that reaches it can read and "
			"write donated memory, impersonate clients and reclaim",
			host);
	if (c.transport != DONOR_AUTO &&
	    !listener_named(donor_transports[c.transport])) {
		log_err("donor: transport: %s is not built in "
			"(needs libibverbs and librdmacm at build time)",
			donor_transports[c.transport]);
		goto out_keys;
	}
	if (!c.foreground) {
		ret = service_fork(&status);
		if (ret == 1)
			goto out_keys; /* the parent, with the child's word */
		if (ret < 0) {
			log_err("donor: fork: %s", strerror(-ret));
			goto out_keys;
		}
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
			goto out_keys;
		}
	}
	/* touching more than the host has would bring the OOM killer */
	if (!meminfo_read(c.meminfo_file, &avail) && c.memory > avail) {
		log_err("donor: memory: %s asked for, but the host has only "
			"%s available",
			format_size(c.memory, sz, sizeof(sz)),
			format_size(avail, err, sizeof(err)));
		goto out_keys;
	}
	service_status("reserving memory: %s",
		       format_size(c.memory, sz, sizeof(sz)));
	if (pool_create_progress(c.memory, 0, reserve_progress, NULL, &pool,
				 err, sizeof(err))) {
		log_err("donor: %s", err);
		goto out_keys;
	}
	c.max_clients = clients_limit(c.max_clients);
	dcfg.grace_ms = (unsigned int)c.grace_period * 1000;
	dcfg.max_conns = (unsigned int)c.max_clients;
	dcfg.low_watermark = c.low_watermark;
	dcfg.high_watermark = c.high_watermark;
	dcfg.evict_wait_ms = (unsigned int)c.evict_wait * 1000;
	dcfg.caps = kr.n ? PROTO_CAP_AUTH : 0;
	dcfg.meminfo_path = c.meminfo_file;
	for (l = donor_listeners; *l; l++)
		if (c.transport == DONOR_AUTO ||
		    !strcmp((*l)->name, donor_transports[c.transport]))
			dcfg.caps |= (*l)->caps;
	ret = donor_create(&dcfg, pool, &d);
	if (ret) {
		log_err("donor: %s", strerror(-ret));
		pool_destroy(pool);
		goto out_keys;
	}
	scfg.host = host;
	scfg.port = port;
	scfg.kr = &kr;
	scfg.caps = dcfg.caps;
	scfg.hs_timeout_ms = (unsigned int)c.handshake_timeout * 1000;
	scfg.max_startups = (unsigned int)c.max_startups;
	scfg.threads = (unsigned int)c.threads;
	/* room for handshakes in flight beyond the clients served, and for
	 * dropped ones not yet gone */
	scfg.max_conns = (unsigned int)(c.max_clients + 2 * c.max_startups);
	for (l = donor_listeners, i = 0; *l && i < NLISTENERS; l++, i++) {
		char bport[16];

		if (c.transport != DONOR_AUTO &&
		    strcmp((*l)->name, donor_transports[c.transport]))
			continue;
		/* a later listener takes the port the first one bound */
		if (bound) {
			snprintf(bport, sizeof(bport), "%u", bound);
			scfg.port = bport;
		}
		ret = (*l)->start(d, &scfg, &srv[i], &bound, err, sizeof(err));
		if (ret && (!(*l)->optional || c.transport != DONOR_AUTO)) {
			log_err("donor: %s", err);
			goto out_servers;
		}
		if (ret) {
			log_notice("donor: %s: %s; serving without it",
				   (*l)->name, err);
			donor_set_caps(d, donor_caps(d) & ~(*l)->caps);
			continue;
		}
		snprintf(served + strlen(served),
			 sizeof(served) - strlen(served), "%s%s",
			 served[0] ? " " : "", (*l)->name);
	}
	if (c.metrics_listen) {
		ret = metrics_http_start(c.metrics_listen, donor_metrics_render,
					 d, &mh, &mport, err, sizeof(err));
		if (ret) {
			log_err("donor: %s", err);
			goto out_servers;
		}
		parse_hostport(c.metrics_listen, NULL, err, sizeof(err), port,
			       sizeof(port));
		log_notice("donor: metrics on http://%s%s%s:%u/metrics",
			   strchr(err, ':') ? "[" : "", err,
			   strchr(err, ':') ? "]" : "", mport);
	}
	if (c.port_file) {
		ret = write_port_file(c.port_file, bound);
		if (ret) {
			log_err("donor: port file %s: %s", c.port_file,
				strerror(-ret));
			goto out_servers;
		}
	}
	log_notice("donor: serving %s of memory on %s:%u (%s, %s, grace "
		   "period %lds)",
		   format_size(pool_total_bytes(pool), sz, sizeof(sz)), host,
		   bound, served, kr.n ? "keys required" : "INSECURE, no key",
		   c.grace_period);
	if (!pool_hugetlb(pool))
		log_info("donor: no hugetlb pages; using normal pages with "
			 "transparent huge pages where possible");
	snprintf(err, sizeof(err), "serving %s on %s:%u",
		 format_size(pool_total_bytes(pool), sz, sizeof(sz)), host,
		 bound);
	service_ready("cnetmem-donor", err);

	do
		ret = sigwait(&sigs, &sig);
	while (ret == EINTR);
	log_notice("donor: signal %d, shutting down", sig);
	service_stopping();
	status = EXIT_SUCCESS;
	if (c.port_file)
		unlink(c.port_file);
out_servers:
	metrics_http_stop(mh);
	/* in reverse: the last started stops first */
	for (i = NLISTENERS; i-- > 0;)
		if (srv[i])
			donor_listeners[i]->stop(srv[i]);
	donor_destroy(d);
out_keys:
	donor_keyring_free(&kr);
out_opts:
	if (status != EXIT_SUCCESS)
		service_failed(status);
	cpu_latency_release(qos);
	opts_free(&o);
	return status;
}

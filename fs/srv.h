/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * srv - donors found through DNS SRV records (--donor-srv NAME), the
 * cluster's own naming: a Kubernetes headless Service publishes one record
 * per donor pod, so do Consul and plain zone files.
 *
 * srv_lookup() asks once (glibc libresolv: res_nquery, ns_parserr) and
 * gives the targets as "HOST:PORT". A watch re-asks every name at the
 * smallest TTL of its answer, bounded to [SRV_MIN_S, SRV_MAX_S] (SRV_MIN_S
 * again after a failed query, 1 s while a donor drains): targets that
 * appear are added to the page store (pstore_donor_add), targets that
 * vanish are drained (pstore_donor_drain: their slabs move, nothing is
 * lost). Only an answer counts: a query that fails (timeout, SERVFAIL) or
 * an answer with no records (NXDOMAIN, NODATA) changes nothing, since a
 * DNS outage is likelier than every donor leaving at once. A target is
 * drained only after a round in which every name answered and none listed
 * it, and never when it was also given with --donor (compared as written:
 * give a donor the same way in both).
 *
 * Threading: srv_lookup() from any thread (its own resolver state). A
 * watch runs one thread from srv_watch_start() to srv_watch_stop(); it
 * blocks on DNS and on pstore donor calls, holding no lock of anyone's.
 */
#ifndef CNM_FS_SRV_H
#define CNM_FS_SRV_H

#include <stddef.h>
#include <stdint.h>

#define SRV_ADDR_LEN 272 /* "HOST:PORT": a DNS name, ':', a port */
#define SRV_MIN_S    5
#define SRV_MAX_S    300

struct pstore;
struct srv_watch;

/* The resolver to ask: "IP[:PORT]" (IPv4, port 53 by default) or NULL for
 * the system's (/etc/resolv.conf). */
struct srv_server {
	const char *addr;
};

/*
 * Parses a DNS answer of len bytes: its SRV records' targets into
 * out[0..max) as "HOST:PORT" (*n of them; more are counted but dropped)
 * and the smallest TTL into *ttl. 0, or -EBADMSG for a malformed answer.
 * Pure: exposed for tests.
 */
int srv_parse(const uint8_t *ans, int len, char (*out)[SRV_ADDR_LEN],
	      unsigned int max, unsigned int *n, uint32_t *ttl);

/*
 * Asks for name's SRV records. 0 (with *n >= 1), -ENOENT for no records,
 * -EAGAIN when there was no answer, -EINVAL for a bad server address; err
 * gets a sentence.
 */
int srv_lookup(const char *name, const struct srv_server *server,
	       char (*out)[SRV_ADDR_LEN], unsigned int max, unsigned int *n,
	       uint32_t *ttl, char *err, size_t errlen);

/*
 * Watches names[0..nnames) for ps. Targets already in ps (those found at
 * mount time) are taken as found; fixed[0..nfixed) (the --donor list) are
 * never drained. Strings are copied. 0 or -errno.
 */
int srv_watch_start(struct pstore *ps, const char *const *names,
		    unsigned int nnames, const struct srv_server *server,
		    const char *const *found, unsigned int nfound,
		    const char *const *fixed, unsigned int nfixed,
		    struct srv_watch **out);
/* Stops the thread (an ongoing DNS query or drain call ends first). */
void srv_watch_stop(struct srv_watch *w);

#endif

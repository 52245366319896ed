// SPDX-License-Identifier: GPL-2.0-or-later
/* srv - donor discovery through DNS SRV records; see srv.h. */
#include "fs/srv.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/parse.h"
#include "placement/pstore.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <resolv.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SRV_ANSWER_MAX	65536 /* the largest DNS message */
#define SRV_TARGETS_MAX 4096  /* targets kept per name */
#define SRV_DRAIN_MS	1000  /* one drain call; then the loop goes on */

int srv_parse(const uint8_t *ans, int len, char (*out)[SRV_ADDR_LEN],
	      unsigned int max, unsigned int *n, uint32_t *ttl)
{
	char host[NS_MAXDNAME];
	ns_msg msg;
	ns_rr rr;

	*n = 0;
	*ttl = UINT32_MAX;
	if (len < 0 || ns_initparse(ans, len, &msg) < 0)
		return -EBADMSG;
	for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
		const uint8_t *rd;

		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			return -EBADMSG;
		if (ns_rr_type(rr) != ns_t_srv || ns_rr_class(rr) != ns_c_in)
			continue; /* a CNAME on the way, say */
		rd = ns_rr_rdata(rr);
		/* priority, weight, port, then the target's name */
		if (ns_rr_rdlen(rr) < 7 ||
		    dn_expand(ns_msg_base(msg), ns_msg_end(msg), rd + 6, host,
			      sizeof(host)) < 0)
			return -EBADMSG;
		if (!host[0])
			continue; /* "." : no service here */
		if (ns_rr_ttl(rr) < *ttl)
			*ttl = ns_rr_ttl(rr);
		if (*n < max &&
		    (size_t)snprintf(out[*n], SRV_ADDR_LEN, "%s:%u", host,
				     ns_get16(rd + 4)) < SRV_ADDR_LEN)
			(*n)++;
	}
	return 0;
}

/* Points st at server alone; 0 or -EINVAL. */
static int use_server(struct __res_state *st, const char *server)
{
	char host[64], port[16];
	struct sockaddr_in sin = { .sin_family = AF_INET };
	long p;

	if (parse_hostport(server, "53", host, sizeof(host), port,
			   sizeof(port)) ||
	    inet_pton(AF_INET, host, &sin.sin_addr) != 1 ||
	    parse_long(port, 1, 65535, &p))
		return -EINVAL;
	sin.sin_port = htons((uint16_t)p);
	/* IPv6 servers from resolv.conf sit here and would win */
	for (int i = 0; i < MAXNS; i++) {
		free(st->_u._ext.nsaddrs[i]);
		st->_u._ext.nsaddrs[i] = NULL;
	}
	st->nsaddr_list[0] = sin;
	st->nscount = 1;
	return 0;
}

int srv_lookup(const char *name, const struct srv_server *server,
	       char (*out)[SRV_ADDR_LEN], unsigned int max, unsigned int *n,
	       uint32_t *ttl, char *err, size_t errlen)
{
	struct __res_state st;
	uint8_t *ans;
	int len, ret;

	*n = 0;
	ans = malloc(SRV_ANSWER_MAX);
	if (!ans)
		return -ENOMEM;
	memset(&st, 0, sizeof(st));
	if (res_ninit(&st)) {
		snprintf(err, errlen, "cannot set up the resolver");
		ret = -EAGAIN;
		goto out_free;
	}
	st.retrans = 2; /* seconds per try: a query never holds us long */
	st.retry = 2;
	if (server && server->addr && use_server(&st, server->addr)) {
		snprintf(err, errlen, "resolver '%s' is not IPV4[:PORT]",
			 server->addr);
		ret = -EINVAL;
		goto out_close;
	}
	len = res_nquery(&st, name, ns_c_in, ns_t_srv, ans, SRV_ANSWER_MAX);
	if (len < 0) {
		bool none = st.res_h_errno == HOST_NOT_FOUND ||
			    st.res_h_errno == NO_DATA;

		snprintf(err, errlen, "%s",
			 none ? "no SRV records" : "no answer from DNS");
		ret = none ? -ENOENT : -EAGAIN;
		goto out_close;
	}
	ret = srv_parse(ans, len, out, max, n, ttl);
	if (ret)
		snprintf(err, errlen, "malformed DNS answer");
	else if (!*n) {
		snprintf(err, errlen, "no SRV records");
		ret = -ENOENT;
	}
out_close:
	res_nclose(&st);
out_free:
	free(ans);
	return ret;
}

/* ---- the watch ---- */

enum { T_ACTIVE, T_DRAINING };

struct srv_target {
	char addr[SRV_ADDR_LEN];
	int state;
	bool fixed; /* also a --donor: never drained */
	bool seen;  /* in an answer of this round */
};

struct srv_watch {
	struct pstore *ps;
	char **names;
	unsigned int nnames;
	char *server; /* NULL: the system's resolver */
	/* the thread's own, no lock */
	struct srv_target *t;
	unsigned int nt, cap;
	char (*ans)[SRV_ADDR_LEN];
	bool round_ok; /* every name answered in the last round */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool stop; /* protected by lock */
};

static struct srv_target *find(struct srv_watch *w, const char *addr)
{
	for (unsigned int i = 0; i < w->nt; i++)
		if (!strcmp(w->t[i].addr, addr))
			return &w->t[i];
	return NULL;
}

static struct srv_target *add(struct srv_watch *w, const char *addr)
{
	struct srv_target *t;

	if (w->nt == w->cap) {
		unsigned int cap = w->cap ? 2 * w->cap : 64;

		t = realloc(w->t, cap * sizeof(*t));
		if (!t)
			return NULL;
		w->t = t;
		w->cap = cap;
	}
	t = &w->t[w->nt++];
	memset(t, 0, sizeof(*t));
	snprintf(t->addr, sizeof(t->addr), "%s", addr);
	return t;
}

static void drop(struct srv_watch *w, struct srv_target *t)
{
	*t = w->t[--w->nt];
}

/* Asks every name and adds what is new; w->round_ok says whether every
 * name answered. Returns the seconds until the next round. */
static unsigned int ask_all(struct srv_watch *w)
{
	struct srv_server sv = { w->server };
	uint32_t next = SRV_MAX_S;
	char err[128], perr[256];

	w->round_ok = true;
	for (unsigned int i = 0; i < w->nt; i++)
		w->t[i].seen = false;
	for (unsigned int k = 0; k < w->nnames; k++) {
		unsigned int n;
		uint32_t ttl;
		int ret;

		ret = srv_lookup(w->names[k], &sv, w->ans, SRV_TARGETS_MAX, &n,
				 &ttl, err, sizeof(err));
		if (ret) {
			LOG_RATELIMITED(LOG_WARNING,
					"donor-srv %s: %s; keeping its donors",
					w->names[k], err);
			next = SRV_MIN_S;
			w->round_ok = false;
			continue;
		}
		if (ttl < next)
			next = ttl;
		for (unsigned int j = 0; j < n; j++) {
			struct srv_target *t = find(w, w->ans[j]);

			if (t) {
				t->seen = true;
				continue;
			}
			ret = pstore_donor_add(w->ps, w->ans[j], perr,
					       sizeof(perr));
			if (ret && ret != -EEXIST) {
				LOG_RATELIMITED(LOG_WARNING, "donor-srv %s: %s",
						w->names[k], perr);
				next = SRV_MIN_S;
				continue;
			}
			log_notice("donor-srv %s: donor %s %s", w->names[k],
				   w->ans[j], ret ? "already in use" : "added");
			t = add(w, w->ans[j]);
			if (t)
				t->seen = true;
		}
	}
	return next < SRV_MIN_S ? SRV_MIN_S : next;
}

/* Drains what the last round's answers no longer list (only after a round
 * in which every name answered: a stale list drains nothing). */
static void drain_vanished(struct srv_watch *w)
{
	for (unsigned int i = 0; i < w->nt;) {
		struct srv_target *t = &w->t[i];
		char why[256] = "";
		int ret;

		if (t->fixed ||
		    (t->state == T_ACTIVE && (t->seen || !w->round_ok))) {
			i++;
			continue;
		}
		if (t->state == T_ACTIVE)
			log_notice("donor-srv: donor %s is gone from DNS: "
				   "draining it",
				   t->addr);
		t->state = T_DRAINING;
		ret = pstore_donor_drain(w->ps, t->addr, SRV_DRAIN_MS, why,
					 sizeof(why));
		if (ret == -ETIMEDOUT) { /* again in a second */
			i++;
			continue;
		}
		if (ret && ret != -ENOENT)
			log_warn("donor-srv: donor %s: drain: %s", t->addr,
				 why[0] ? why : strerror(-ret));
		drop(w, t); /* drained (or unknown): found anew if it returns */
	}
}

static void *watch_main(void *arg)
{
	struct srv_watch *w = arg;
	uint64_t next_ask = 0;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		struct timespec ts;

		pthread_mutex_unlock(&w->lock);
		if (mono_ns() >= next_ask)
			next_ask = deadline_after_ms(ask_all(w) * 1000u);
		drain_vanished(w);
		pthread_mutex_lock(&w->lock);
		/* a second: the pace of a drain under way */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		if (!w->stop)
			pthread_cond_timedwait(&w->cv, &w->lock, &ts);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void watch_free(struct srv_watch *w)
{
	for (unsigned int i = 0; i < w->nnames; i++)
		free(w->names[i]);
	free(w->names);
	free(w->server);
	free(w->t);
	free(w->ans);
	free(w);
}

int srv_watch_start(struct pstore *ps, const char *const *names,
		    unsigned int nnames, const struct srv_server *server,
		    const char *const *found, unsigned int nfound,
		    const char *const *fixed, unsigned int nfixed,
		    struct srv_watch **out)
{
	struct srv_watch *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;
	int ret = -ENOMEM;

	if (!w)
		return -ENOMEM;
	w->ps = ps;
	w->names = calloc(nnames, sizeof(*w->names));
	w->ans = calloc(SRV_TARGETS_MAX, sizeof(*w->ans));
	if (!w->names || !w->ans)
		goto out_free;
	for (w->nnames = 0; w->nnames < nnames; w->nnames++) {
		w->names[w->nnames] = strdup(names[w->nnames]);
		if (!w->names[w->nnames])
			goto out_free;
	}
	if (server && server->addr && !(w->server = strdup(server->addr)))
		goto out_free;
	for (unsigned int i = 0; i < nfound; i++)
		if (!find(w, found[i]) && !add(w, found[i]))
			goto out_free;
	for (unsigned int i = 0; i < nfixed; i++) {
		struct srv_target *t = find(w, fixed[i]);

		if (!t && !(t = add(w, fixed[i])))
			goto out_free;
		t->fixed = true;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	ret = -pthread_create(&w->thread, NULL, watch_main, w);
	if (ret) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->lock);
		goto out_free;
	}
	*out = w;
	return 0;

out_free:
	watch_free(w);
	return ret;
}

void srv_watch_stop(struct srv_watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->lock);
	watch_free(w);
}

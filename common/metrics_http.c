// SPDX-License-Identifier: GPL-2.0-or-later
/* metrics_http - GET /metrics through libmicrohttpd. */
#include "common/metrics_http.h"

#include "common/parse.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#if MHD_VERSION < 0x00097002
typedef int MHD_Result_t;
#else
typedef enum MHD_Result MHD_Result_t;
#endif

struct metrics_http {
	struct MHD_Daemon *mhd;
	metrics_render_fn render;
	void *arg;
};

static MHD_Result_t answer(struct MHD_Connection *conn, unsigned int code,
			   const char *type, char *body, size_t len,
			   enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r;
	MHD_Result_t ret;

	r = MHD_create_response_from_buffer(len, body, mode);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static MHD_Result_t on_request(void *cls, struct MHD_Connection *conn,
			       const char *url, const char *method,
			       const char *version, const char *upload_data,
			       size_t *upload_size, void **state)
{
	static char not_found[] = "only /metrics is served here\n";
	static char not_allowed[] = "only GET\n";
	static char failed[] = "cannot render the metrics\n";
	struct metrics_http *m = cls;
	struct prom p;
	MHD_Result_t ret;

	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
			      not_allowed, sizeof(not_allowed) - 1,
			      MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/metrics"))
		return answer(conn, MHD_HTTP_NOT_FOUND, "text/plain", not_found,
			      sizeof(not_found) - 1, MHD_RESPMEM_PERSISTENT);
	prom_init(&p);
	if (m->render(&p, m->arg) || p.err || !p.buf) {
		prom_free(&p);
		return answer(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
			      "text/plain", failed, sizeof(failed) - 1,
			      MHD_RESPMEM_PERSISTENT);
	}
	/* the response takes the buffer and frees it */
	ret = answer(conn, MHD_HTTP_OK, PROM_CONTENT_TYPE, p.buf, p.len,
		     MHD_RESPMEM_MUST_FREE);
	if (ret == MHD_NO)
		prom_free(&p);
	return ret;
}

int metrics_http_start(const char *hostport, metrics_render_fn render,
		       void *arg, struct metrics_http **out, uint16_t *port,
		       char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV },
			*ai = NULL;
	char host[256], portstr[32];
	const union MHD_DaemonInfo *info;
	struct metrics_http *m;
	unsigned int flags;
	int ret;

	if (parse_hostport(hostport, NULL, host, sizeof(host), portstr,
			   sizeof(portstr))) {
		snprintf(err, errlen, "metrics-listen: '%s' is not ADDR:PORT",
			 hostport);
		return -EINVAL;
	}
	ret = getaddrinfo(host, portstr, &hints, &ai);
	if (ret) {
		snprintf(err, errlen, "metrics-listen %s: %s", hostport,
			 gai_strerror(ret));
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out_ai;
	}
	m->render = render;
	m->arg = arg;
	flags = MHD_USE_INTERNAL_POLLING_THREAD;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR,
		ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT, 16u,
		MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (!m->mhd) {
		ret = -EADDRINUSE;
		snprintf(err, errlen,
			 "metrics-listen %s: cannot serve HTTP there (address "
			 "in use or not local?)",
			 hostport);
		free(m);
		goto out_ai;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_BIND_PORT);
	*port = info ? info->port : 0;
	*out = m;
	ret = 0;
out_ai:
	freeaddrinfo(ai);
	return ret;
}

void metrics_http_stop(struct metrics_http *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->mhd);
	free(m);
}

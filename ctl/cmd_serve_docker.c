// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_serve_docker - `cnetmemctl serve docker`: serves Docker's volume
 * plugin protocol with libmicrohttpd on a Unix socket
 * (/run/docker/plugins/cnetmem.sock: the plugin is then named "cnetmem")
 * until SIGTERM or SIGINT. The volumes (mounts) outlive the driver; a
 * driver started again finds them (ctl/docker_vol.c).
 *
 * Threading: the main thread parses, sets up and then waits for a signal;
 * libmicrohttpd's internal thread serves the requests one at a time
 * (ctl/docker.h).
 */
#include "ctl/ctl.h"
#include "ctl/docker.h"

#include "common/log.h"

#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/docker/plugins/cnetmem.sock"
#define DEFAULT_ROOT   "/run/cnetmem/docker"
#define MAX_BODY       (64 * 1024)

int cmd_serve(int argc, char **argv);

static const char usage_line[] =
	"serve docker [--donor HOST:PORT ...] [--key-file FILE] "
	"[--socket PATH] [--root DIR] [--cnetmem PATH] [-- CNETMEM-ARGS...]";

/* One request's body, collected over the upload callbacks. */
struct upload {
	char *buf;
	size_t len;
	int too_big;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status,
			     char *body)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(body), body,
					       MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/vnd.docker.plugins.v1.2+json");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
			      const char *url, const char *method,
			      const char *version, const char *data,
			      size_t *data_size, void **con_cls)
{
	const struct dvol_cfg *cfg = cls;
	struct upload *up = *con_cls;
	unsigned int status;
	char *body;

	if (!up) {
		up = calloc(1, sizeof(*up));
		if (!up)
			return MHD_NO;
		*con_cls = up;
		return MHD_YES;
	}
	if (*data_size) {
		if (!up->too_big && up->len + *data_size <= MAX_BODY) {
			char *nb = realloc(up->buf, up->len + *data_size);

			if (!nb)
				return MHD_NO;
			up->buf = nb;
			memcpy(up->buf + up->len, data, *data_size);
			up->len += *data_size;
		} else {
			up->too_big = 1;
		}
		*data_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_POST)) {
		body = strdup("{\"Err\":\"only POST is served\"}");
		return body ? reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, body)
			    : MHD_NO;
	}
	if (up->too_big) {
		body = strdup("{\"Err\":\"request body too large\"}");
		return body ? reply(conn, MHD_HTTP_CONTENT_TOO_LARGE, body)
			    : MHD_NO;
	}
	status = docker_api_handle(cfg, url, up->buf, up->len, &body);
	return body ? reply(conn, status, body) : MHD_NO;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct upload *up = *con_cls;

	if (up) {
		free(up->buf);
		free(up);
		*con_cls = NULL;
	}
}

/* mkdir -p: 0 or -errno. */
static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Binds a listening Unix socket at path: -EADDRINUSE when a live driver
 * answers there already; a stale socket file is replaced. */
static int listen_unix(const char *path, int *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)], *slash;
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		ctl_err("socket %s: path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		/* /run/docker/plugins may not exist yet */
		ret = mkdir_p(dir);
		if (ret) {
			ctl_err("socket %s: mkdir %s: %s", path, dir,
				strerror(-ret));
			return ret;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		ctl_err("socket %s: another driver is serving it", path);
		ret = -EADDRINUSE;
		goto out_close;
	}
	close(fd);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(path, 0660) ||
	    listen(fd, 64)) {
		ret = -errno;
		ctl_err("socket %s: %s", path, strerror(errno));
		goto out_close;
	}
	*out = fd;
	return 0;
out_close:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* The cnetmem binary beside our own (an installed tree), else "cnetmem"
 * from PATH. */
static const char *default_cnetmem(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 9);
	char *slash;

	if (n > 0) {
		buf[n] = 0;
		slash = strrchr(buf, '/');
		if (slash) {
			strcpy(slash + 1, "cnetmem");
			if (!access(buf, X_OK))
				return buf;
		}
	}
	return "cnetmem";
}

static int count_one(const struct dvol_info *info, void *arg)
{
	(*(int *)arg)++;
	log_notice("volume %s: found mounted at %s", info->name, info->path);
	return 0;
}

static int parse(int argc, char **argv, struct dvol_cfg *cfg, const char **sock,
		 const char **root)
{
	const char *a = "";

	for (int i = 2; i < argc; i++) {
		a = argv[i];

		if (!strcmp(a, "--")) {
			cfg->extra = argv + i + 1;
			cfg->nextra = argc - i - 1;
			return 0;
		}
		if (strncmp(a, "--", 2))
			goto bad;
		if (i + 1 >= argc) {
			ctl_err("%s needs a value; usage: cnetmemctl %s", a,
				usage_line);
			return -EINVAL;
		}
		if (!strcmp(a, "--donor")) {
			if (cfg->ndonors == DVOL_MAX_DONORS) {
				ctl_err("at most %d --donor", DVOL_MAX_DONORS);
				return -EINVAL;
			}
			cfg->donors[cfg->ndonors++] = argv[++i];
		} else if (!strcmp(a, "--key-file")) {
			cfg->key_file = argv[++i];
		} else if (!strcmp(a, "--socket")) {
			*sock = argv[++i];
		} else if (!strcmp(a, "--root")) {
			*root = argv[++i];
		} else if (!strcmp(a, "--cnetmem")) {
			cfg->cnetmem_bin = argv[++i];
		} else {
			goto bad;
		}
	}
	return 0;
bad:
	ctl_err("unexpected argument '%s'; usage: cnetmemctl %s", a,
		usage_line);
	return -EINVAL;
}

int cmd_serve(int argc, char **argv)
{
	const char *sock = DEFAULT_SOCKET, *root_arg = DEFAULT_ROOT;
	char root[PATH_MAX], self[PATH_MAX];
	struct dvol_cfg cfg = { 0 };
	struct MHD_Daemon *d;
	sigset_t sigs;
	int fd = -1, sig = 0, n = 0, err, ret = 1;

	if (argc == 2 &&
	    (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("usage: cnetmemctl %s\n", usage_line);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "docker")) {
		ctl_err("usage: cnetmemctl %s", usage_line);
		return 2;
	}
	if (parse(argc, argv, &cfg, &sock, &root_arg))
		return 2;
	if (!cfg.cnetmem_bin)
		cfg.cnetmem_bin = default_cnetmem(self, sizeof(self));
	err = mkdir_p(root_arg);
	if (err) {
		ctl_err("root %s: %s", root_arg, strerror(-err));
		return 1;
	}
	if (!realpath(root_arg, root)) {
		ctl_err("root %s: %s", root_arg, strerror(errno));
		return 1;
	}
	cfg.root = root;
	if (listen_unix(sock, &fd))
		return 1;

	/* the server thread inherits the mask: signals come to sigwait */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
		NULL, handle, &cfg, MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60,
		MHD_OPTION_END);
	if (!d) {
		ctl_err("socket %s: cannot start the HTTP server", sock);
		goto out_close;
	}
	dvol_list(&cfg, count_one, &n);
	log_notice("serving docker volume plugin on %s: volumes under %s "
		   "(%d found), cnetmem %s",
		   sock, root, n, cfg.cnetmem_bin);
	while (sigwait(&sigs, &sig) == EINTR)
		;
	log_notice("signal %d: stopping (the volumes stay mounted)", sig);
	MHD_stop_daemon(d); /* closes the listening socket */
	fd = -1;
	ret = 0;
out_close:
	if (fd >= 0)
		close(fd);
	unlink(sock);
	return ret;
}

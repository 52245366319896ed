// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * docker_api - Docker's volume plugin protocol ("VolumeDriver", JSON over
 * HTTP POST), one request at a time:
 *
 *   /Plugin.Activate            -> {"Implements": ["VolumeDriver"]}
 *   /VolumeDriver.Capabilities  -> {"Capabilities": {"Scope": "local"}}
 *   /VolumeDriver.Create  {"Name", "Opts"}  mount the volume -> {"Err"}
 *   /VolumeDriver.Remove  {"Name"}          unmount it       -> {"Err"}
 *   /VolumeDriver.Mount   {"Name", "ID"}    -> {"Mountpoint", "Err"}
 *   /VolumeDriver.Path    {"Name"}          -> {"Mountpoint", "Err"}
 *   /VolumeDriver.Unmount {"Name", "ID"}    -> {"Err"} (the mount stays
 *                                              until Remove)
 *   /VolumeDriver.Get     {"Name"}          -> {"Volume", "Err"}
 *   /VolumeDriver.List    {}                -> {"Volumes", "Err"}
 *
 * A failed operation answers 200 with "Err" set, as the protocol has it;
 * a request that cannot be understood (not JSON, no Name, a wrong type)
 * answers 400, an unknown path 404, both with "Err" too.
 */
#include "ctl/docker.h"

#include "common/log.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#define MAX_OPTS 32

struct req {
	json_t *body;	  /* the parsed request, NULL when empty */
	const char *name; /* its "Name", valid while body lives */
	char err[1024];
};

static json_t *err_reply(const char *err)
{
	return json_pack("{s:s}", "Err", err);
}

/* The request's "Name": 0, or -EINVAL with the message in r->err. */
static int need_name(struct req *r)
{
	json_t *n = r->body ? json_object_get(r->body, "Name") : NULL;

	if (!json_is_string(n)) {
		snprintf(r->err, sizeof(r->err),
			 "bad request: no \"Name\" string");
		return -EINVAL;
	}
	r->name = json_string_value(n);
	if (dvol_name_ok(r->name)) {
		snprintf(r->err, sizeof(r->err),
			 "bad request: '%.200s' is not a valid volume name",
			 r->name);
		return -EINVAL;
	}
	return 0;
}

static json_t *do_create(const struct dvol_cfg *cfg, struct req *r,
			 unsigned int *status)
{
	struct dvol_opt opts[MAX_OPTS];
	json_t *o = json_object_get(r->body, "Opts"), *v;
	const char *k;
	int n = 0, ret;

	if (o && !json_is_object(o) && !json_is_null(o)) {
		*status = 400;
		return err_reply("bad request: \"Opts\" is not an object");
	}
	json_object_foreach(o, k, v)
	{
		if (!json_is_string(v)) {
			snprintf(r->err, sizeof(r->err),
				 "bad request: option %.100s is not a string",
				 k);
			*status = 400;
			return err_reply(r->err);
		}
		if (n == MAX_OPTS) {
			*status = 400;
			return err_reply("bad request: too many options");
		}
		opts[n].name = k;
		opts[n++].value = json_string_value(v);
	}
	ret = dvol_create(cfg, r->name, opts, n, r->err, sizeof(r->err));
	if (ret) {
		log_warn("volume %s: create: %s", r->name, r->err);
		return err_reply(r->err);
	}
	log_notice("volume %s: mounted at %s/%s", r->name, cfg->root, r->name);
	return err_reply("");
}

static json_t *do_remove(const struct dvol_cfg *cfg, struct req *r)
{
	if (dvol_remove(cfg, r->name, r->err, sizeof(r->err))) {
		log_warn("volume %s: remove: %s", r->name, r->err);
		return err_reply(r->err);
	}
	log_notice("volume %s: removed", r->name);
	return err_reply("");
}

/* Mount, Path: the mountpoint of a mounted volume. */
static json_t *do_path(const struct dvol_cfg *cfg, struct req *r)
{
	struct dvol_info info;
	int ret = dvol_get(cfg, r->name, &info);

	if (ret == -ENOENT) {
		snprintf(r->err, sizeof(r->err),
			 "volume %s: not mounted (its cnetmem mount is gone: "
			 "remove the volume and create it again)",
			 r->name);
		return err_reply(r->err);
	}
	if (ret) {
		snprintf(r->err, sizeof(r->err), "volume %s: %s", r->name,
			 strerror(-ret));
		return err_reply(r->err);
	}
	return json_pack("{s:s, s:s}", "Mountpoint", info.path, "Err", "");
}

static json_t *do_get(const struct dvol_cfg *cfg, struct req *r)
{
	struct dvol_info info;
	struct statvfs sv;
	json_t *st;
	int ret = dvol_get(cfg, r->name, &info);

	if (ret) {
		snprintf(r->err, sizeof(r->err), "volume %s: %s", r->name,
			 ret == -ENOENT ? "no such volume" : strerror(-ret));
		return err_reply(r->err);
	}
	st = json_object();
	if (st && !statvfs(info.path, &sv)) {
		json_object_set_new(
			st, "capacity_bytes",
			json_integer((json_int_t)(sv.f_blocks * sv.f_frsize)));
		json_object_set_new(
			st, "free_bytes",
			json_integer((json_int_t)(sv.f_bfree * sv.f_frsize)));
	}
	return json_pack("{s:{s:s, s:s, s:o*}, s:s}", "Volume", "Name",
			 info.name, "Mountpoint", info.path, "Status", st,
			 "Err", "");
}

static int list_one(const struct dvol_info *info, void *arg)
{
	json_t *v = json_pack("{s:s, s:s}", "Name", info->name, "Mountpoint",
			      info->path);

	if (!v || json_array_append_new(arg, v))
		return -ENOMEM;
	return 0;
}

static json_t *do_list(const struct dvol_cfg *cfg, struct req *r)
{
	json_t *vols = json_array();
	int ret;

	if (!vols)
		return NULL;
	ret = dvol_list(cfg, list_one, vols);
	if (ret) {
		json_decref(vols);
		snprintf(r->err, sizeof(r->err), "cannot list volumes: %s",
			 strerror(-ret));
		return err_reply(r->err);
	}
	return json_pack("{s:o, s:s}", "Volumes", vols, "Err", "");
}

/* Routes one request; sets *status, returns the reply (NULL: no memory). */
static json_t *route(const struct dvol_cfg *cfg, const char *url, struct req *r,
		     unsigned int *status)
{
	static const char *const named[] = { "Create", "Remove",  "Mount",
					     "Path",   "Unmount", "Get" };
	const char *op;

	*status = 200;
	if (!strcmp(url, "/Plugin.Activate"))
		return json_pack("{s:[s]}", "Implements", "VolumeDriver");
	if (strncmp(url, "/VolumeDriver.", 14)) {
		*status = 404;
		snprintf(r->err, sizeof(r->err), "unknown endpoint %.200s",
			 url);
		return err_reply(r->err);
	}
	op = url + 14;
	if (!strcmp(op, "Capabilities"))
		return json_pack("{s:{s:s}}", "Capabilities", "Scope", "local");
	if (!strcmp(op, "List"))
		return do_list(cfg, r);
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		if (strcmp(op, named[i]))
			continue;
		if (need_name(r)) {
			*status = 400;
			return err_reply(r->err);
		}
		switch (i) {
		case 0:
			return do_create(cfg, r, status);
		case 1:
			return do_remove(cfg, r);
		case 4:
			return err_reply("");
		case 5:
			return do_get(cfg, r);
		default:
			return do_path(cfg, r);
		}
	}
	*status = 404;
	snprintf(r->err, sizeof(r->err), "unknown endpoint %.200s", url);
	return err_reply(r->err);
}

unsigned int docker_api_handle(const struct dvol_cfg *cfg, const char *url,
			       const char *body, size_t len, char **resp)
{
	struct req r = { 0 };
	json_error_t jerr;
	unsigned int status = 500;
	json_t *reply = NULL;

	*resp = NULL;
	if (len) {
		r.body = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
		if (!r.body) {
			status = 400;
			snprintf(r.err, sizeof(r.err),
				 "bad request: not JSON: %.200s at %d:%d",
				 jerr.text, jerr.line, jerr.column);
			reply = err_reply(r.err);
			goto out_dump;
		}
		if (!json_is_object(r.body)) {
			status = 400;
			reply = err_reply("bad request: not a JSON object");
			goto out_dump;
		}
	}
	reply = route(cfg, url, &r, &status);
out_dump:
	if (reply)
		*resp = json_dumps(reply, JSON_COMPACT);
	if (!*resp) { /* no memory, or a reply jansson would not encode */
		status = 500;
		*resp = strdup("{\"Err\":\"internal error\"}");
	}
	json_decref(reply);
	json_decref(r.body);
	return status;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cnm_testclient - what cnm_testclient.c (connection, requests, data
 * commands) shares with tc_attack.c (bad input and denial-of-service
 * attacks). Test code; single-threaded except cmd_stress.
 */
#ifndef CNM_TESTS_CNM_TESTCLIENT_H
#define CNM_TESTS_CNM_TESTCLIENT_H

#include "rdma/auth.h"
#include "rdma/proto.h"

#include <stddef.h>
#include <stdint.h>

#define TMO 10000

extern char g_host[256], g_port[32];
extern struct auth_key g_key;
extern uint64_t g_slab;
extern const char *g_log;
extern uint64_t rnd_state;

void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
int exit_code(int err);
uint64_t xorshift(uint64_t *s);
uint8_t pattern(uint64_t seed, uint32_t slab, uint64_t i);
int tcp_connect(void);
int local_port(int fd);
/* Connects and authenticates; returns the fd or -errno (err filled). */
/* Connects and authenticates; returns the fd or -errno (err filled). */
int open_session(const uint8_t *session, char *err, size_t errlen);
int open_session_tmo(const uint8_t *session, unsigned int tmo_ms, char *err,
		     size_t errlen);
int must_open(const uint8_t *session);
/* One synchronous request; returns -status or a transport error. */
int rpc(int fd, uint16_t op, const void *body, uint32_t len, const void *data,
	uint32_t dlen, void *out, uint32_t outmax);
int do_alloc(int fd, uint32_t *slab);
int do_io(int fd, uint16_t op, uint32_t slab, uint64_t off, uint32_t len,
	  void *buf);
int do_free(int fd, uint32_t slab);
void fill_slab(int fd, uint64_t seed, uint32_t slab);
int check_slab(int fd, uint64_t seed, uint32_t slab);

/* tc_attack.c */
int cmd_attack(const char *kind);
int cmd_loris(int seconds);
int cmd_slow(int n, int seconds);

/* tc_scale.c */
int cmd_many(int n, int pid);
int cmd_fd_full(int pid, int seconds);

#endif

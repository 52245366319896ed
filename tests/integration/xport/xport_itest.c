// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * xport_itest - integration checks of the TCP transport against a real
 * cnetmem-donor (started by the shell test on 127.0.0.1). One line per
 * check: "ok - ..." or "not ok - ...". Exit 0 when every check passed.
 *
 *   xport_itest data  HOST PORT          pipelined random reads/writes,
 *                                        several threads and connections,
 *                                        verified byte for byte; chains
 *   xport_itest auth  HOST PORT KEY BAD  right key works; wrong and no
 *                                        key refused with -EACCES
 *   xport_itest kill  HOST PORT PID MARK SIGKILL the donor mid-transfer:
 *                                        every pending request fails in
 *                                        time; touch MARK, wait for the
 *                                        restarted donor (EV_UP), work
 *   xport_itest evict HOST PORT          RECLAIM makes the donor send
 *                                        EVICT: XPORT_EV_EVICT for our slab
 *   xport_itest stall HOST PORT PID      SIGSTOP the donor: requests time
 *                                        out, SIGCONT: reconnect under the
 *                                        same session, the data is there
 *   xport_itest bench HOST PORT          latency and throughput figures
 *                                        (HOST "mem": the XPORT_MEM backend)
 *
 * No check here depends on timing beyond generous upper bounds that only
 * catch hangs. The parts: see xport_itest.h.
 */
#include "xport_itest.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	const char *cmd;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 4) {
		fprintf(stderr,
			"usage: %s data|auth|kill|evict|stall|bench HOST "
			"PORT [ARGS]\n",
			argv[0]);
		return 2;
	}
	cmd = argv[1];
	host = argv[2];
	port = argv[3];
	env_key("CNM_KEY", AUTH_NAME_DEFAULT, &g_key);
	env_key("CNM_OPKEY", AUTH_OPERATOR, &g_opkey);
	if (!strcmp(cmd, "data"))
		return cmd_data();
	if (!strcmp(cmd, "auth") && argc == 6)
		return cmd_auth(argv[4], argv[5]);
	if (!strcmp(cmd, "kill") && argc == 6)
		return cmd_kill(atoi(argv[4]), argv[5]);
	if (!strcmp(cmd, "evict"))
		return cmd_evict();
	if (!strcmp(cmd, "stall") && argc == 5)
		return cmd_stall(atoi(argv[4]));
	if (!strcmp(cmd, "bench"))
		return cmd_bench();
	fprintf(stderr, "%s: bad arguments\n", argv[0]);
	return 2;
}

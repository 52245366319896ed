/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cpu_latency - hold a PM QoS CPU latency limit (/dev/cpu_dma_latency).
 *
 * While the limit is held, idle CPUs take no sleep state slower to leave
 * than it; with 0 they poll instead of halting. A sleeping thread then wakes
 * in a few microseconds, not tens: on a VM whose idle vCPUs halt, each
 * thread hand-off of a TCP round trip otherwise costs about 25 us. The cost
 * is power (and, in a VM, the host CPU an idle vCPU now spins on). The
 * request lasts while its descriptor is open and ends when it closes, also
 * when the process dies. Threading: start-up and teardown only.
 */
#ifndef CNM_COMMON_CPU_LATENCY_H
#define CNM_COMMON_CPU_LATENCY_H

#define CPU_LATENCY_MAX_US 2000000000L

/* The "cpu-latency" setting of an opts table (common/opts.h), shared by
 * the mount and the donor: a long at `offset`, -1 (no request) unless set. */
#define CPU_LATENCY_OPT(offset)                                                \
	{                                                                      \
		"cpu-latency", 0, OPT_INT, (offset), "-1", -1,                 \
			CPU_LATENCY_MAX_US, NULL, "US",                        \
			"keep idle CPUs within US microseconds of waking "     \
			"while running "                                       \
			"(PM QoS; 0 polls; -1 leaves them be)"                 \
	}

/* Holds a limit of us microseconds (0..CPU_LATENCY_MAX_US). Returns the
 * descriptor to give to cpu_latency_release(), or -errno (-EINVAL for a
 * value out of range, -EACCES without root). */
int cpu_latency_hold(long us);
void cpu_latency_release(int fd);

/* The limit in force now, the tightest of every holder's (microseconds),
 * or -errno. */
long cpu_latency_current(void);

#endif

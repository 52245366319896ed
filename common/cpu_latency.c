// SPDX-License-Identifier: GPL-2.0-or-later
/* cpu_latency - hold a PM QoS CPU latency limit (/dev/cpu_dma_latency). */
#include "common/cpu_latency.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#define QOS_DEV "/dev/cpu_dma_latency"

int cpu_latency_hold(long us)
{
	/* the device takes exactly 4 bytes as a binary s32; any other
	 * length is parsed as a hex string */
	int32_t v = (int32_t)us;
	int fd;

	if (us < 0 || us > CPU_LATENCY_MAX_US)
		return -EINVAL;
	fd = open(QOS_DEV, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, &v, sizeof(v)) != (ssize_t)sizeof(v)) {
		int err = errno ? -errno : -EIO;

		close(fd);
		return err;
	}
	return fd;
}

void cpu_latency_release(int fd)
{
	if (fd >= 0)
		close(fd);
}

long cpu_latency_current(void)
{
	int32_t v;
	ssize_t n;
	int fd = open(QOS_DEV, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, &v, sizeof(v));
	close(fd);
	if (n != (ssize_t)sizeof(v))
		return n < 0 ? -errno : -EIO;
	return v;
}

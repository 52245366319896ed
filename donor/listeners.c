// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * listeners - the table of the listeners this build has (donor/server.h).
 * The one place that knows whether the RDMA listener is compiled in.
 */
#include "cnm_config.h"
#include "donor/server.h"

#include <stddef.h>

const struct donor_listener *const donor_listeners[] = {
	&tcp_listener,
#if CNM_HAVE_RDMA
	&rdma_listener,
#endif
	NULL,
};

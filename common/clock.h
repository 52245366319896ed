/* SPDX-License-Identifier: GPL-2.0-or-later */
/* clock - monotonic time in nanoseconds (mono_ns). Threading: any thread. */
#ifndef CNM_COMMON_CLOCK_H
#define CNM_COMMON_CLOCK_H

#include <stdint.h>

uint64_t mono_ns(void);

#endif

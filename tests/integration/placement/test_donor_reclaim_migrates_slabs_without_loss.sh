#!/usr/bin/env bash
# Three donors, R=2: donor 1 is asked (RECLAIM) for half the slabs the
# mount holds there; the client moves each to another donor (never one
# that already holds the slab) and frees it, while writes go on; every
# page then reads back from each surviving replica.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/integration/placement/lib.sh"
trap cnm_cleanup EXIT

itest_donors 3 --evict-wait 30
itest_run 1 evict --replicas 2 --threads 4 --pages 4096 "${donors[@]}"
cnm_stop_donors d1 d2 d3

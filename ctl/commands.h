/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * commands - cnetmemctl's command table, one line per command:
 *   CTL_COMMAND(name on the command line, C function, usage, one-line help)
 * To add a command: write ctl/cmd_<name>.c with
 *   int cmd_<name>(int argc, char **argv)   (argv[0] is the command name;
 *   return 0 or a process exit status; print errors as "cnetmemctl: ...")
 * add one line here and the file to ctl/meson.build.
 * Included twice by ctl/cnetmemctl.c (declarations, then the table), so it
 * has no include guard on purpose.
 */
CTL_COMMAND("donor", cmd_donor,
	    "donor HOST:PORT --key-file FILE [--key-name NAME] | --insecure",
	    "print a donor's state as JSON")
CTL_COMMAND("donor-add", cmd_donor_add, "donor-add MOUNTPOINT HOST:PORT",
	    "connect a running mount to one more donor (root)")
CTL_COMMAND("donor-drain", cmd_donor_drain,
	    "donor-drain MOUNTPOINT HOST:PORT [--timeout SECONDS]",
	    "move every slab of a mount off a donor, then disconnect it (root)")
CTL_COMMAND("donor-undrain", cmd_donor_undrain,
	    "donor-undrain MOUNTPOINT HOST:PORT",
	    "cancel a drain: the donor takes slabs again (root)")
CTL_COMMAND("donor-reclaim", cmd_donor_reclaim,
	    "donor-reclaim HOST:PORT SIZE --key-file OPERATOR_KEY "
	    "[--key-name NAME]",
	    "ask a donor to get SIZE bytes of slabs back from its clients")
CTL_COMMAND("stats", cmd_stats, "stats MOUNTPOINT [--json]",
	    "print a cnetmem mount's state (MOUNTPOINT/.cnetmem-stats)")
CTL_COMMAND("serve", cmd_serve,
	    "serve docker [--donor HOST:PORT ...] [--key-file FILE] "
	    "[--socket PATH] [--root DIR] [--cnetmem PATH] [-- CNETMEM-ARGS]",
	    "serve Docker's volume plugin protocol: one cnetmem mount per "
	    "volume (root)")
CTL_COMMAND("stats", cmd_stats, "stats MOUNTPOINT [--json] [--grace SECONDS]",
	    "print a cnetmem mount's state (MOUNTPOINT/.cnetmem-stats); exit "
	    "3 when pages were lost or copies stayed degraded past the grace "
	    "(60 s)")
CTL_COMMAND("metrics", cmd_metrics, "metrics [--listen ADDR:PORT]",
	    "print every cnetmem mount's metrics in Prometheus' text format "
	    "(node_exporter textfile), or serve them on ADDR:PORT/metrics")
CTL_COMMAND("list", cmd_list, "list [--grace SECONDS] [MOUNTPOINT...]",
	    "list every cnetmem mount of this host (or those named) with its "
	    "state; exit 3 when one is unhealthy")
CTL_COMMAND("restart", cmd_restart, "restart MOUNTPOINT [--timeout SECONDS]",
	    "replace a mount's serving process with the cnetmem binary now on "
	    "disk, without unmounting (swap may be active; root)")

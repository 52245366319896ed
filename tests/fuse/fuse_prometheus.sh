#!/bin/bash
# Metrics as Prometheus sees them: a donor serving /metrics
# (--metrics-listen), a mount on it, `cnetmemctl metrics` (textfile form)
# and `cnetmemctl metrics --listen`; both texts pass `promtool check
# metrics`, and a real Prometheus server (Debian's, on loopback with its
# own data dir) scrapes both targets: up, with the mount's and the donor's
# series holding the values written.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
cnm_fs_test_begin
command -v prometheus >/dev/null || cnm_skip "no prometheus (Debian package)"
command -v promtool >/dev/null || cnm_skip "no promtool"
CTL=$CNM_CTL_BIN

# bg NAME CMD...: a process the cleanup stops (through the donor list)
bg() {
	local name=$1
	shift
	"$@" >"$CNM_TMP/$name.log" 2>&1 &
	echo "$!" >"$CNM_TMP/$name.pid"
	echo "$name" >>"$CNM_TMP/.donors"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# promql EXPR: the value of the first sample of an instant query, or ""
promql() {
	curl -sf --get "http://127.0.0.1:$pport/api/v1/query" \
		--data-urlencode "query=$1" |
		python3 -c 'import json,sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")'
}

cnm_start_donor d1 --memory 128M --metrics-listen 127.0.0.1:0
cnm_wait_for_log "$(cnm_donor_log d1)" 'metrics on http://127.0.0.1:[0-9]+/'
dport=$(sed -n 's|.*metrics on http://127.0.0.1:\([0-9]*\)/.*|\1|p' \
	"$(cnm_donor_log d1)")
# shellcheck disable=SC2046
cnm_mount m "$mnt" $(cnm_donor_args d1) --transport tcp --size 128M \
	--slab-size 4M
head -c $((4 << 20)) /dev/urandom >"$mnt/data"
cat "$mnt/data" >/dev/null

# the donor's text and the textfile form pass promtool
curl -sf "http://127.0.0.1:$dport/metrics" >"$CNM_TMP/donor.prom"
promtool check metrics <"$CNM_TMP/donor.prom" ||
	fail "promtool: the donor's metrics"
# 4 MiB of sealed pages and their 16-byte tags (1,024 pages)
grep -q '^cnetmem_donor_written_bytes_total 4210688$' "$CNM_TMP/donor.prom" ||
	fail "the donor does not count the 4 MiB written (and their tags)"
grep -q '^cnetmem_donor_request_duration_seconds_bucket{le="+Inf"} ' \
	"$CNM_TMP/donor.prom" || fail "no request duration histogram"
"$CTL" metrics >"$CNM_TMP/mounts.prom"
promtool check metrics <"$CNM_TMP/mounts.prom" ||
	fail "promtool: cnetmemctl metrics"
grep -q "^cnetmem_mount_written_bytes_total{mountpoint=\"$mnt\"} 4194304$" \
	"$CNM_TMP/mounts.prom" || fail "the mount's bytes written"
grep -q "^cnetmem_mount_lost_pages_total{mountpoint=\"$mnt\"} 0$" \
	"$CNM_TMP/mounts.prom" || fail "no lost pages counter"
grep -q "^cnetmem_mount_request_size_bytes_bucket{mountpoint=\"$mnt\",op=\"write\",le=\"4096\"} " \
	"$CNM_TMP/mounts.prom" || fail "no request size histogram"
grep -q "^cnetmem_mount_request_duration_seconds_bucket{mountpoint=\"$mnt\",op=\"read\",le=\"0.0001\"} " \
	"$CNM_TMP/mounts.prom" || fail "no request duration histogram"
grep -Eq "^cnetmem_mount_request_duration_seconds_count\{mountpoint=\"$mnt\",op=\"write\"\} [1-9]" \
	"$CNM_TMP/mounts.prom" || fail "writes not timed"

# cnetmemctl metrics --listen, and Prometheus scraping both
bg ctl "$CTL" metrics --listen 127.0.0.1:0
cnm_wait_for_log "$CNM_TMP/ctl.log" 'on port [0-9]+'
cport=$(sed -n 's/.*on port \([0-9]*\).*/\1/p' "$CNM_TMP/ctl.log")
curl -sf "http://127.0.0.1:$cport/metrics" | promtool check metrics ||
	fail "promtool: cnetmemctl metrics --listen"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$cport/")" = 404 ] ||
	fail "/ is not 404"
pport=$(free_port)
cat >"$CNM_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: cnetmem-donor
    static_configs: [{targets: ["127.0.0.1:$dport"]}]
  - job_name: cnetmem-mounts
    static_configs: [{targets: ["127.0.0.1:$cport"]}]
EOF
promtool check config "$CNM_TMP/prometheus.yml" >/dev/null
bg prometheus prometheus --config.file="$CNM_TMP/prometheus.yml" \
	--storage.tsdb.path="$CNM_TMP/prom-data" \
	--web.listen-address="127.0.0.1:$pport"
up=""
for ((i = 0; i < 300; i++)); do
	up=$(curl -sf "http://127.0.0.1:$pport/api/v1/targets" 2>/dev/null |
		python3 -c 'import json,sys
t = json.load(sys.stdin)["data"]["activeTargets"]
print(sum(x["health"] == "up" for x in t))' 2>/dev/null || true)
	[ "$up" = 2 ] && break
	sleep 0.2
done
[ "$up" = 2 ] || fail "prometheus: targets up: '$up', want 2"
for ((i = 0; i < 100; i++)); do
	v=$(promql "cnetmem_mount_written_bytes_total{mountpoint=\"$mnt\"}")
	[ -n "$v" ] && break
	sleep 0.2
done
[ "$v" = 4194304 ] || fail "prometheus: the mount's bytes written: '$v'"
v=$(promql 'cnetmem_donor_memory_bytes')
[ "$v" = 134217728 ] || fail "prometheus: the donor's memory: '$v'"
v=$(promql "cnetmem_mount_donor_up{mountpoint=\"$mnt\"}")
[ "$v" = 1 ] || fail "prometheus: the mount's donor is not up: '$v'"
cnm_umount m
cnm_fail_on_log_errors "$(cnm_fs_log m)"
cnm_fail_on_log_errors "$(cnm_donor_log d1)"
echo "ok"

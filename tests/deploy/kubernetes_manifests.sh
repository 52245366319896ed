#!/bin/bash
# Every manifest under deploy/kubernetes/ parses with `kubectl create
# --dry-run=client` (Debian's kubernetes-client), offline: a kubeconfig
# naming a server that does not exist (127.0.0.1:1) and kubectl's discovery
# cache seeded with the API groups and kinds the manifests use, so kubectl
# never dials out. --validate=false: schema validation would need the
# server's OpenAPI document. The kubelet's own config
# (kubelet.config.k8s.io) is no API-server object; its kind is listed in
# the seeded discovery only so that kubectl parses it like the rest. Then
# the properties the deployment rests on are checked in the parsed objects,
# and a broken manifest must be refused (the check can fail).
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
trap cnm_cleanup EXIT
command -v kubectl >/dev/null || cnm_skip "kubectl not installed (kubernetes-client)"
python3 -c 'import yaml' 2>/dev/null || cnm_skip "python3-yaml not installed"

DIR=$SOURCE_ROOT/deploy/kubernetes
K=$CNM_TMP/kube
D=$K/cache/discovery/127.0.0.1_1
mkdir -p "$D/v1" "$D/apps/v1" "$D/kubelet.config.k8s.io/v1beta1"
cat >"$K/config" <<'CFG'
apiVersion: v1
kind: Config
clusters:
- name: offline
  cluster: {server: "https://127.0.0.1:1"}
contexts:
- name: offline
  context: {cluster: offline, user: offline}
current-context: offline
users:
- name: offline
  user: {token: offline}
CFG
group() { # NAME VERSION
	local gv=${1:+$1/}$2
	printf '{"name":"%s","versions":[{"groupVersion":"%s","version":"%s"}],"preferredVersion":{"groupVersion":"%s","version":"%s"}}' \
		"$1" "$gv" "$2" "$gv" "$2"
}
echo "{\"kind\":\"APIGroupList\",\"apiVersion\":\"v1\",\"groups\":[$(group '' v1),$(group apps v1),$(group kubelet.config.k8s.io v1beta1)]}" \
	>"$D/servergroups.json"
resources() { # GROUPVERSION NAMESPACED plural:Kind...
	local gv=$1 ns=$2 r sep=
	shift 2
	printf '{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"%s","resources":[' "$gv"
	for r in "$@"; do
		printf '%s{"name":"%s","singularName":"","namespaced":%s,"kind":"%s","verbs":["create","get","list"]}' \
			"$sep" "${r%%:*}" "$ns" "${r#*:}"
		sep=,
	done
	printf ']}\n'
}
{
	resources v1 true secrets:Secret services:Service pods:Pod |
		sed 's/]}$/,{"name":"namespaces","singularName":"","namespaced":false,"kind":"Namespace","verbs":["create","get","list"]}]}/'
} >"$D/v1/serverresources.json"
resources apps/v1 true daemonsets:DaemonSet >"$D/apps/v1/serverresources.json"
resources kubelet.config.k8s.io/v1beta1 false \
	kubeletconfigurations:KubeletConfiguration \
	>"$D/kubelet.config.k8s.io/v1beta1/serverresources.json"

kc() {
	HOME=$K KUBECONFIG=$K/config kubectl --cache-dir "$K/cache" \
		--request-timeout 5s "$@" </dev/null
}

n=0
while read -r f; do
	out=$CNM_TMP/$(basename "$f").out
	if ! kc create --dry-run=client --validate=false -f "$f" -o yaml \
		>"$out" 2>"$out.err"; then
		cat "$out.err" >&2
		echo "FAIL: kubectl refused ${f#"$SOURCE_ROOT"/}" >&2
		exit 1
	fi
	cnm_log "kubectl parsed ${f#"$SOURCE_ROOT"/}: $(grep -m1 '^kind:' "$out")"
	n=$((n + 1))
done < <(find "$DIR" -name '*.yaml' | sort)
[ "$n" -ge 7 ] || { echo "FAIL: only $n manifests found" >&2; exit 1; }

# what the deployment rests on, read from kubectl's own output
python3 - "$CNM_TMP" <<'PY'
import sys, yaml, glob, os
objs = {}
for p in glob.glob(os.path.join(sys.argv[1], '*.yaml.out')):
    for o in yaml.safe_load_all(open(p)):
        if o:
            objs[(o['kind'], o.get('metadata', {}).get('name'))] = o
def fail(msg):
    print('FAIL: ' + msg, file=sys.stderr)
    sys.exit(1)
def pod(kind, name):
    o = objs.get((kind, name)) or fail('no %s %s' % (kind, name))
    return o['spec']['template']['spec'] if kind == 'DaemonSet' else o['spec']

donor = pod('DaemonSet', 'cnetmem-donor')
c = donor['containers'][0]
if not any(v.get('secret', {}).get('secretName') == 'cnetmem-key' for v in donor['volumes']):
    fail('the donor does not take its key from the Secret cnetmem-key')
if '--key-file' not in c['command']:
    fail('the donor is not given --key-file')
svc = objs.get(('Service', 'cnetmem-donor')) or fail('no donor Service')
if svc['spec'].get('clusterIP') != 'None':
    fail('the donor Service is not headless')
if not any(p.get('name') == 'cnetmem' and p.get('protocol', 'TCP') == 'TCP' for p in svc['spec']['ports']):
    fail('the donor Service has no TCP port named cnetmem (for _cnetmem._tcp SRV records)')
if svc['spec']['selector'] != objs[('DaemonSet', 'cnetmem-donor')]['spec']['template']['metadata']['labels']:
    fail('the donor Service does not select the donor pods')

node = pod('DaemonSet', 'cnetmem-node')
c = node['containers'][0]
vm = {m['name']: m for m in c['volumeMounts']}
if vm['run-cnetmem'].get('mountPropagation') != 'Bidirectional':
    fail('the node mount does not propagate to the host (Bidirectional)')
if vm['run-cnetmem']['mountPath'] != '/run/cnetmem':
    fail('the node mounts are not under /run/cnetmem')
if not c.get('securityContext', {}).get('privileged'):
    fail('Bidirectional propagation needs a privileged container')
cmd = ' '.join(c['command'])
if '--donor-srv _cnetmem._tcp.cnetmem-donor.cnetmem.svc.cluster.local' not in cmd:
    fail('the node mount does not find donors through the Service SRV record')

ex = pod('Pod', 'cnetmem-scratch-example')
hp = [v['hostPath']['path'] for v in ex['volumes'] if 'hostPath' in v]
if not hp or not hp[0].startswith('/run/cnetmem/node/'):
    fail('the example pod does not use a hostPath into the node mount')

sw = pod('DaemonSet', 'cnetmem-swap')
cmd = ' '.join(sw['containers'][0]['command'])
for w in ('losetup --direct-io=on', 'mkswap', 'swapon', 'swapoff'):
    if w not in cmd:
        fail('the swap recipe lacks ' + w)
kl = objs.get(('KubeletConfiguration', None)) or fail('no KubeletConfiguration')
if kl.get('memorySwap', {}).get('swapBehavior') != 'LimitedSwap' or kl.get('failSwapOn') is not False:
    fail('the kubelet config is not NodeSwap with LimitedSwap')
print('# every property checked')
PY

# a broken manifest is refused: this check can fail
printf 'apiVersion: v1\nkind: Service\nmetadata: {name: x\n' >"$CNM_TMP/broken.yaml"
if kc create --dry-run=client --validate=false -f "$CNM_TMP/broken.yaml" \
	>/dev/null 2>&1; then
	echo "FAIL: kubectl accepted a broken manifest" >&2
	exit 1
fi
echo "ok: $n manifests parsed by kubectl offline, properties checked"

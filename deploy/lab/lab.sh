#!/usr/bin/env bash
# mkube lab hosts: simulated nodes on this machine, each with its own
# containerd (CRI) instance.
#
#   lab.sh up --workers N [--name PREFIX] [--subnet BASE] [--segments 2]
#       N worker nodes: netns PREFIX-w<i> joined to the host bridge PREFIX-br0
#       (10.213.BASE.1/24) by a veth pair, node IP 10.213.BASE.(10+i), pod
#       subnet 10.213.(BASE+i).0/24, host-gw routes between all of them.
#       --segments 2: two lab subnets routed by the host instead — odd workers
#       on PREFIX-br0 (10.213.BASE.0/25, gateway .1, node IP .(10+i)), even
#       ones on PREFIX-br1 (10.213.BASE.128/25, gateway .129, node IP
#       .(138+i)); workers route only 10.213.0.0/16 via their gateway and
#       nothing routes pod subnets (a cross-subnet pod network is the node
#       agents' VXLAN overlay); host-gw routes only within a segment.
#       --pod-prefix LEN (25-28, default 24): the workers' pod subnets are
#       carved from the single /24 10.213.(BASE+1).0 instead — worker i gets
#       10.213.(BASE+1).((i-1)*2^(32-LEN))/LEN — so a lab of many hosts takes
#       two /24s (nodes, pods) rather than N+1.
#   lab.sh up --host-node [--name PREFIX] [--subnet BASE]
#       one node PREFIX-host in the host's own network namespace, pod subnet
#       10.213.(BASE+1).0/24 on the CNI bridge PREFIX-cni0.
#   lab.sh down [--name PREFIX]
#       removes everything of that lab; idempotent, also after a crash.
#   lab.sh status [--name PREFIX]
#       prints the summary JSON of a running lab.
#
# PREFIX (default "mk") must start with "mk" (leftovers are found by name),
# BASE (default 0) is the third octet the lab's addresses start from.
# `up` first runs `down` for the same PREFIX, then prints a JSON summary on
# stdout (all logs go to stderr):
#   {"name","mode","bridge","gateway","workers":[{"name","netns","nodeIP",
#    "podCIDR","podGateway","criSocket","cgroupParent","stateDir","logDir"}]}
# Only 10.213.0.0/16 is used; a blackhole route for it is added first so no
# packet of the lab can leave the machine.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LAB_ROOT="${MKUBE_LAB_ROOT:-/var/lib/mkube-lab}"
IMAGE_DIR="${MKUBE_IMAGE_DIR:-/var/cache/mkube/images}"
LOCK_FILE=/run/mkube-lab.lock
NET16=10.213
CNI_BIN=/usr/lib/cni
SANDBOX_IMAGE=registry.k8s.io/pause:3.9
READY_TIMEOUT_S=30

# shellcheck source=../lib/ensure-packages.sh
source "$HERE/../lib/ensure-packages.sh"

log() { echo "lab: $*" >&2; }
die() { echo "lab: error: $*" >&2; exit 1; }

usage() {
  sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---------------------------------------------------------------- arguments
CMD=${1:-}
[ -n "$CMD" ] || usage
shift
PREFIX=mk
WORKERS=0
HOST_NODE=0
BASE=0
SEGMENTS=1
POD_PREFIX=24
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) WORKERS=${2:?}; shift 2 ;;
    --name) PREFIX=${2:?}; shift 2 ;;
    --subnet) BASE=${2:?}; shift 2 ;;
    --segments) SEGMENTS=${2:?}; shift 2 ;;
    --pod-prefix) POD_PREFIX=${2:?}; shift 2 ;;
    --host-node) HOST_NODE=1; shift ;;
    -h|--help) usage ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[[ $PREFIX =~ ^mk[a-z0-9]{0,8}$ ]] || die "--name must match ^mk[a-z0-9]{0,8}\$ (got '$PREFIX')"
[[ $WORKERS =~ ^[0-9]+$ ]] || die "--workers must be a number"
[[ $BASE =~ ^[0-9]+$ ]] || die "--subnet must be a number"
[[ $SEGMENTS =~ ^[12]$ ]] || die "--segments must be 1 or 2"
[[ $POD_PREFIX =~ ^2[4-8]$ ]] || die "--pod-prefix must be 24 to 28"
LAB_DIR="$LAB_ROOT/$PREFIX"
BRIDGE="$PREFIX-br0"
HOST_CNI_BRIDGE="$PREFIX-cni0"
# Names of this lab's nodes (netns, host-side veths, cgroups) and links.
NODE_RE="^$PREFIX-(w[0-9]+|host)\$"
LINK_RE="^$PREFIX-(br0|br1|cni0|svc0|w[0-9]+)\$"

[ "$(id -u)" -eq 0 ] || die "must run as root"

with_lock() { # serialise labs on this machine (routes, blackhole, bridges)
  exec 7>"$LOCK_FILE"
  flock -w 120 7 || die "timed out waiting for $LOCK_FILE"
}

# ---------------------------------------------------------------- down
lab_pids() { # pids of processes that belong to this lab
  local h d
  # 1. everything in the lab's cgroups (containerd, shims, containers)
  for h in /sys/fs/cgroup/*/; do
    for d in "$h"$PREFIX-*; do
      [ -d "$d" ] || continue
      [[ $(basename "$d") =~ $NODE_RE ]] || continue
      find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null || true
    done
  done
  # 2. processes whose command line names the lab's state dir (containerd
  #    --config, shims' -address), in case they escaped the cgroups.
  #    (One grep over all; the bracketed pattern does not match grep itself.)
  grep -lsE -- "${LAB_DIR//\//[/]}[/]" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 | grep -vx "$$" || true
}

kill_lab_processes() {
  local f pid pids i
  # containerd first, politely (pid files), so it does not restart anything.
  for f in "$LAB_DIR"/*/containerd.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$LAB_DIR/"; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for i in $(seq 1 20); do
    pids=$(lab_pids | sort -u | grep -v "^$$\$" || true)
    [ -n "$pids" ] || return 0
    if [ "$i" -le 3 ]; then
      # shellcheck disable=SC2086
      kill -TERM $pids 2>/dev/null || true
      sleep 0.2
    else
      # shellcheck disable=SC2086
      kill -KILL $pids 2>/dev/null || true
      sleep 0.25
    fi
  done
  pids=$(lab_pids | sort -u || true)
  [ -z "$pids" ] || log "warning: processes still alive: $(echo $pids)"
}

unmount_lab() {
  local m i
  for i in 1 2 3; do
    # mount points below the lab dir, deepest first
    m=$(awk -v p="$LAB_DIR/" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo | awk '{print length, $0}' | sort -rn | cut -d' ' -f2-)
    [ -n "$m" ] || return 0
    while IFS= read -r mp; do
      umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
    done <<<"$m"
  done
}

remove_cgroups() {
  local h d
  for h in /sys/fs/cgroup/*/; do
    for d in "$h"$PREFIX-*; do
      [ -d "$d" ] || continue
      [[ $(basename "$d") =~ $NODE_RE ]] || continue
      find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
      [ ! -d "$d" ] || log "warning: cgroup $d not removed"
    done
  done
}

remove_network() {
  local ns link
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    [[ $ns =~ $NODE_RE ]] && ip netns del "$ns" 2>/dev/null || true
  done
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    [[ $link =~ $LINK_RE ]] && ip link del "$link" 2>/dev/null || true
  done
  # Routes via the lab's devices vanished with them; pod-subnet routes of the
  # host that point at a missing gateway cannot exist. Blackhole: only when no
  # other lab remains (a state dir or a bridge of another prefix).
  local others
  others=$(find "$LAB_ROOT" -mindepth 1 -maxdepth 1 -type d ! -name "$PREFIX" 2>/dev/null | head -1 || true)
  if [ -z "$others" ] && ! ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | grep -Eq '^mk[a-z0-9]*-(br0|cni0)(@|$)'; then
    ip route del blackhole $NET16.0.0/16 2>/dev/null || true
  fi
  # The service proxy's and the NetworkPolicy enforcer's rules of a host node (workers' went with their namespaces): their jumps, then
  # its chains (MKUBE-*), in the nat and filter tables of the host.
  if [ "$(ip netns identify $$ 2>/dev/null)" = "" ] && command -v iptables-save >/dev/null; then
    local table from to chains c
    for table in nat filter; do
      for from in PREROUTING OUTPUT POSTROUTING FORWARD; do
        for to in MKUBE-SERVICES MKUBE-POSTROUTING MKUBE-NETPOL; do
          while iptables -w 5 -t "$table" -D "$from" -j "$to" 2>/dev/null; do :; done
        done
      done
      chains=$(iptables-save -t "$table" 2>/dev/null | sed -n 's/^:\(MKUBE-[A-Z0-9-]*\) .*/\1/p')
      for c in $chains; do iptables -w 5 -t "$table" -F "$c" 2>/dev/null || true; done
      for c in $chains; do iptables -w 5 -t "$table" -X "$c" 2>/dev/null || true; done
    done
  fi
  # CNI result cache entries of this lab's networks, and of the loopback
  # network ("cni-loopback-<sandbox id>-lo") of the lab's sandboxes.
  rm -f /var/lib/cni/results/"$PREFIX"-w[0-9]*-* /var/lib/cni/results/"$PREFIX"-host-* 2>/dev/null || true
  local sb
  for sb in "$LAB_DIR"/*/root/io.containerd.grpc.v1.cri/sandboxes/*; do
    [ -d "$sb" ] || continue
    rm -f /var/lib/cni/results/*-"$(basename "$sb")"-* 2>/dev/null || true
  done
}

lab_down() {
  kill_lab_processes
  unmount_lab
  remove_network
  remove_cgroups
  if [ -d "$LAB_DIR" ]; then
    unmount_lab
    rm -rf "$LAB_DIR" 2>/dev/null || { unmount_lab; rm -rf "$LAB_DIR"; }
  fi
  rmdir "$LAB_ROOT" 2>/dev/null || true
  log "lab $PREFIX is down"
}

# ---------------------------------------------------------------- up
write_cni_conf() { # dir netname bridge subnet gateway
  local dir=$1 name=$2 bridge=$3 subnet=$4 gw=$5 data=$6
  mkdir -p "$dir" "$data"
  cat >"$dir/10-mkube.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$name",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$data",
        "ranges": [[{"subnet": "$subnet", "gateway": "$gw"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOF
}

write_containerd_config() { # node dir cni_conf_dir
  local node=$1 dir=$2
  cat >"$dir/containerd.toml" <<EOF
# generated by mkube deploy/lab/lab.sh for node $node
version = 2
root = "$dir/root"
state = "$dir/state"
oom_score = 0

[grpc]
  address = "$dir/containerd.sock"

[ttrpc]
  address = "$dir/containerd-ttrpc.sock"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[cgroup]
  path = "/$node/containerd"

[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"

[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "$dir/runc-v1"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$SANDBOX_IMAGE"
  restrict_oom_score_adj = true
  disable_apparmor = true
  tolerate_missing_hugetlb_controller = true
  disable_hugetlb_controller = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  max_container_log_line_size = 16384

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$dir/runc"

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$dir/cni/net.d"
    max_conf_num = 1
EOF
}

start_containerd() { # node dir netns(or empty)
  local node=$1 dir=$2 ns=$3
  mkdir -p "$dir/root" "$dir/state" "$dir/opt" "$dir/runc" "$dir/logs"
  local -a cmd=(containerd --config "$dir/containerd.toml")
  [ -z "$ns" ] || cmd=(nsenter "--net=/run/netns/$ns" "${cmd[@]}")
  # setsid without a fork (we are not a group leader): $! is containerd.
  setsid "${cmd[@]}" </dev/null >"$dir/containerd.log" 2>&1 7>&- &
  echo $! >"$dir/containerd.pid"
  disown || true
}

wait_containerd() { # node dir
  local node=$1 dir=$2 deadline=$((SECONDS + READY_TIMEOUT_S))
  while [ $SECONDS -lt $deadline ]; do
    if ctr --address "$dir/containerd.sock" version >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$(cat "$dir/containerd.pid")" 2>/dev/null; then
      die "containerd of $node exited: $(tail -5 "$dir/containerd.log")"
    fi
    sleep 0.1
  done
  die "containerd of $node not ready after ${READY_TIMEOUT_S}s: $(tail -5 "$dir/containerd.log")"
}

import_images() { # node dir archives...
  local node=$1 dir=$2 a
  shift 2
  for a in "$@"; do
    ctr --address "$dir/containerd.sock" -n k8s.io images import "$a" >/dev/null 2>"$dir/import.err" ||
      die "importing $a into $node: $(cat "$dir/import.err")"
  done
}

ensure_blackhole() {
  ip route show type blackhole | grep -q "^blackhole $NET16.0.0/16" ||
    ip route add blackhole $NET16.0.0/16 2>/dev/null || true
  ip route show type blackhole | grep -q "^blackhole $NET16.0.0/16" || die "could not add blackhole route"
}

node_json() { # name netns nodeIP podCIDR podGW dir
  printf '{"name":"%s","netns":"%s","nodeIP":"%s","podCIDR":"%s","podGateway":"%s","criSocket":"%s","criAddress":"unix://%s","cgroupParent":"/%s","stateDir":"%s","logDir":"%s"}' \
    "$1" "$2" "$3" "$4" "$5" "$6/containerd.sock" "$6/containerd.sock" "$1" "$6" "$6/logs"
}

host_ip() {
  ip -o route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -1
}

# Address plan of a worker: its segment (0 or 1), node IP, and a segment's gateway on the host.
worker_seg() { if [ "$SEGMENTS" = 2 ]; then echo $((($1 - 1) % 2)); else echo 0; fi; }
worker_ip() {
  if [ "$(worker_seg "$1")" = 1 ]; then echo "$NET16.$BASE.$((138 + $1))"; else echo "$NET16.$BASE.$((10 + $1))"; fi
}
# Worker i's pod subnet: 10.213.(BASE+i).0/24, or with --pod-prefix LEN > 24 the i-th /LEN of 10.213.(BASE+1).0/24.
pod_size() { echo $((1 << (32 - POD_PREFIX))); }
pod_cidr() { if [ "$POD_PREFIX" = 24 ]; then echo "$NET16.$((BASE + $1)).0/24"; else echo "$NET16.$((BASE + 1)).$((($1 - 1) * $(pod_size)))/$POD_PREFIX"; fi; }
pod_gw() { if [ "$POD_PREFIX" = 24 ]; then echo "$NET16.$((BASE + $1)).1"; else echo "$NET16.$((BASE + 1)).$((($1 - 1) * $(pod_size) + 1))"; fi; }
seg_gw() { if [ "$1" = 1 ]; then echo "$NET16.$BASE.129"; else echo "$NET16.$BASE.1"; fi; }

lab_up_workers() {
  [ "$WORKERS" -ge 1 ] || die "--workers must be >= 1"
  # The lab's /24s (nodes BASE, pods BASE+1..BASE+N) stay inside the /16 and off the service range
  # 10.213.200.0/24 and mkube up's default LoadBalancer pool 10.213.250.0/24.
  local last=$((BASE + WORKERS))
  if [ "$POD_PREFIX" != 24 ]; then
    last=$((BASE + 1))
    [ $((WORKERS * $(pod_size))) -le 256 ] || die "--pod-prefix $POD_PREFIX leaves room for $((256 / $(pod_size))) workers in 10.213.$((BASE + 1)).0/24"
  fi
  [ "$last" -le 255 ] || die "--subnet + --workers must stay below 256"
  for i in $(seq "$BASE" "$last"); do
    [ "$i" != 200 ] && [ "$i" != 250 ] || die "--subnet + --workers must not cover 10.213.200.0/24 (service range) or 10.213.250.0/24 (load-balancer pool)"
  done
  [ "$SEGMENTS" = 1 ] || [ "$WORKERS" -le 100 ] || die "--segments 2 takes at most 100 workers"
  local net=$NET16.$BASE gw=$NET16.$BASE.1 i j
  ensure_blackhole
  if [ "$SEGMENTS" = 2 ]; then
    # Two lab subnets, the host routing between them (forwarding on these bridges only; they take the
    # setting with them when removed). The /16 stays blackholed on the host: nothing else is routed.
    local b
    for b in 0 1; do
      ip link add "$PREFIX-br$b" type bridge
      ip addr add "$(seg_gw "$b")/25" dev "$PREFIX-br$b"
      ip link set "$PREFIX-br$b" up
      sysctl -qw "net.ipv4.conf.$PREFIX-br$b.forwarding=1"
    done
  else
    ip link add "$BRIDGE" type bridge
    ip addr add "$gw/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
  fi
  for i in $(seq 1 "$WORKERS"); do
    local node=$PREFIX-w$i ip dir=$LAB_DIR/w$i seg
    local podcidr podgw
    podcidr=$(pod_cidr "$i"); podgw=$(pod_gw "$i")
    ip=$(worker_ip "$i"); seg=$(worker_seg "$i")
    mkdir -p "$dir"
    ip netns add "$node"
    ip link add "$node" type veth peer name eth0 netns "$node"
    ip link set "$node" master "$PREFIX-br$seg" up
    ip -n "$node" link set lo up
    ip -n "$node" link set eth0 up
    if [ "$SEGMENTS" = 2 ]; then
      ip -n "$node" addr add "$ip/25" dev eth0
      ip -n "$node" route add $NET16.0.0/16 via "$(seg_gw "$seg")"
    else
      ip -n "$node" addr add "$ip/24" dev eth0
      ip -n "$node" route add default via "$gw"
    fi
    # Nothing outside 10.213.0.0/16 answers a worker (no NAT): make the host's DNS servers
    # unreachable at once instead of letting every image-pull lookup wait for its timeout.
    for ns_ip in $(awk '$1 == "nameserver" && $2 ~ /^[0-9.]+$/ { print $2 }' /etc/resolv.conf 2>/dev/null); do
      ip -n "$node" route replace unreachable "$ns_ip/32" 2>/dev/null || true
    done
    nsenter --net="/run/netns/$node" sysctl -qw net.ipv4.ip_forward=1
    [ "$SEGMENTS" = 2 ] || ip route replace "$podcidr" via "$ip" dev "$BRIDGE"
    write_cni_conf "$dir/cni/net.d" "$node" cni-mk0 "$podcidr" "$podgw" "$dir/cni/ipam"
    write_containerd_config "$node" "$dir"
  done
  # host-gw: every worker routes every other worker's pod subnet (on its segment) via its node IP
  for i in $(seq 1 "$WORKERS"); do
    for j in $(seq 1 "$WORKERS"); do
      [ "$i" = "$j" ] && continue
      [ "$(worker_seg "$i")" = "$(worker_seg "$j")" ] || continue
      ip -n "$PREFIX-w$i" route replace "$(pod_cidr "$j")" via "$(worker_ip "$j")"
    done
  done
  for i in $(seq 1 "$WORKERS"); do start_containerd "$PREFIX-w$i" "$LAB_DIR/w$i" "$PREFIX-w$i"; done
  for i in $(seq 1 "$WORKERS"); do wait_containerd "$PREFIX-w$i" "$LAB_DIR/w$i"; done
  for i in $(seq 1 "$WORKERS"); do
    import_images "$PREFIX-w$i" "$LAB_DIR/w$i" "${ARCHIVES[@]}" &
  done
  wait_all_or_die
  local out
  out=$(printf '{"name":"%s","mode":"workers","bridge":"%s","gateway":"%s","segments":%s,"workers":[' "$PREFIX" "$BRIDGE" "$gw" "$SEGMENTS")
  for i in $(seq 1 "$WORKERS"); do
    [ "$i" -gt 1 ] && out+=","
    out+=$(node_json "$PREFIX-w$i" "$PREFIX-w$i" "$(worker_ip "$i")" "$(pod_cidr "$i")" "$(pod_gw "$i")" "$LAB_DIR/w$i")
  done
  out+="]}"
  echo "$out" >"$LAB_DIR/lab.json"
  echo "$out"
}

lab_up_host_node() {
  [ $((BASE + 1)) -lt 200 ] || die "--subnet must stay below 199"
  local node=$PREFIX-host dir=$LAB_DIR/host podnet=$NET16.$((BASE + 1))
  ensure_blackhole
  mkdir -p "$dir"
  write_cni_conf "$dir/cni/net.d" "$node" "$HOST_CNI_BRIDGE" "$podnet.0/24" "$podnet.1" "$dir/cni/ipam"
  write_containerd_config "$node" "$dir"
  start_containerd "$node" "$dir" ""
  wait_containerd "$node" "$dir"
  import_images "$node" "$dir" "${ARCHIVES[@]}"
  # Service cluster IPs (the API server's default range, inside the blackholed /16): routed to a port-less
  # bridge, so that connections from this machine reach the nat table's DNAT (the route lookup comes
  # first for local traffic) and, without a rule, go nowhere instead of off the machine.
  ip link show "$PREFIX-svc0" >/dev/null 2>&1 || ip link add "$PREFIX-svc0" type bridge
  ip link set "$PREFIX-svc0" up
  ip route replace "$NET16.200.0/24" dev "$PREFIX-svc0"
  local ip; ip=$(host_ip); ip=${ip:-127.0.0.1}
  local out
  out=$(printf '{"name":"%s","mode":"host-node","bridge":"%s","gateway":"%s","workers":[%s]}' \
    "$PREFIX" "$HOST_CNI_BRIDGE" "$podnet.1" "$(node_json "$node" "" "$ip" "$podnet.0/24" "$podnet.1" "$dir")")
  echo "$out" >"$LAB_DIR/lab.json"
  echo "$out"
}

wait_all_or_die() {
  local pid rc=0
  for pid in $(jobs -p); do wait "$pid" || rc=1; done
  [ $rc -eq 0 ] || die "a background step failed"
}

lab_up() {
  ensure_packages "${MKUBE_BASE_PACKAGES[@]}"
  mapfile -t ARCHIVES < <("$HERE/../images/build.sh")
  [ "${#ARCHIVES[@]}" -ge 3 ] || die "image build failed"
  with_lock
  lab_down
  mkdir -p "$LAB_DIR"
  trap 'rc=$?; if [ $rc -ne 0 ]; then log "up failed (rc=$rc), cleaning up"; lab_down; fi' EXIT
  if [ "$HOST_NODE" = 1 ]; then lab_up_host_node; else lab_up_workers; fi
  trap - EXIT
  log "lab $PREFIX is up"
}

case "$CMD" in
  up) lab_up ;;
  down) with_lock; lab_down ;;
  status) [ -f "$LAB_DIR/lab.json" ] || die "lab $PREFIX is not up"; cat "$LAB_DIR/lab.json" ;;
  *) usage ;;
esac

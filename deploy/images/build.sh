#!/usr/bin/env bash
# Build mkube's local container images as OCI image layout archives, without
# a registry or docker. Output: $MKUBE_IMAGE_DIR (default /var/cache/mkube/images)
#   busybox.tar  docker.io/library/busybox:latest  (Debian busybox-static)
#   pause.tar    registry.k8s.io/pause:3.9         (static C pause, busybox sleep fallback)
#   nginx.tar    docker.io/library/nginx:latest    (Debian nginx + its ldd libraries)
#   etcd.tar     docker.io/library/etcd:3.4        (Debian etcd-server + etcd-client + their ldd libraries)
# Each archive: oci-layout, index.json (annotated with io.containerd.image.name
# and org.opencontainers.image.ref.name), blobs/sha256/{config,manifest,layer}.
# Import with: ctr -n k8s.io images import <archive>
#
# Idempotent: an archive is rebuilt only when its build key (this script,
# pause.c and the Debian package versions) changed. Prints the archive paths.
# Usage: build.sh [busybox|pause|nginx|etcd ...]   (default: all)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${MKUBE_IMAGE_DIR:-/var/cache/mkube/images}"
# shellcheck source=../lib/ensure-packages.sh
source "$HERE/../lib/ensure-packages.sh"

log() { echo "images: $*" >&2; }
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
size_of() { stat -c %s "$1"; }
pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo none; }
json_str() { # JSON-encode one string
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}
  printf '"%s"' "$s"
}
json_arr() { # JSON array of strings
  local first=1 a
  printf '['
  for a in "$@"; do
    [ $first -eq 1 ] || printf ','
    first=0
    json_str "$a"
  done
  printf ']'
}

# write_oci_archive NAME REF ROOTFS CONFIG_FRAGMENT OUTFILE
# CONFIG_FRAGMENT is the JSON body of the image config's "config" object.
write_oci_archive() {
  local name=$1 ref=$2 rootfs=$3 cfg=$4 out=$5
  local work; work="$(mktemp -d "$OUT/.build-$name.XXXXXX")"
  mkdir -p "$work/layout/blobs/sha256"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
      --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
      -C "$rootfs" -cf "$work/layer.tar" .
  local layer_digest layer_size
  layer_digest="$(sha256_of "$work/layer.tar")"; layer_size="$(size_of "$work/layer.tar")"
  mv "$work/layer.tar" "$work/layout/blobs/sha256/$layer_digest"

  printf '{"created":"1970-01-01T00:00:00Z","architecture":"amd64","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"mkube deploy/images/build.sh %s"}]}' \
    "$cfg" "$layer_digest" "$name" >"$work/config.json"
  local config_digest config_size
  config_digest="$(sha256_of "$work/config.json")"; config_size="$(size_of "$work/config.json")"
  mv "$work/config.json" "$work/layout/blobs/sha256/$config_digest"

  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$config_digest" "$config_size" "$layer_digest" "$layer_size" >"$work/manifest.json"
  local manifest_digest manifest_size
  manifest_digest="$(sha256_of "$work/manifest.json")"; manifest_size="$(size_of "$work/manifest.json")"
  mv "$work/manifest.json" "$work/layout/blobs/sha256/$manifest_digest"

  local tag=${ref##*:}
  printf '{"imageLayoutVersion":"1.0.0"}' >"$work/layout/oci-layout"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":%s,"org.opencontainers.image.ref.name":%s}}]}' \
    "$manifest_digest" "$manifest_size" "$(json_str "$ref")" "$(json_str "$tag")" >"$work/layout/index.json"

  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
      -C "$work/layout" -cf "$work/image.tar" oci-layout index.json blobs
  mv -f "$work/image.tar" "$out"
  rm -rf "$work"
  log "built $ref -> $out ($(( $(size_of "$out") / 1024 )) KiB, manifest sha256:${manifest_digest:0:12})"
}

# up_to_date NAME KEY: true when OUT/NAME.tar exists and was built with KEY.
up_to_date() {
  [ -f "$OUT/$1.tar" ] && [ -f "$OUT/$1.key" ] && [ "$(cat "$OUT/$1.key")" = "$2" ]
}

base_rootfs() { # minimal filesystem skeleton
  local r=$1
  mkdir -p "$r"/{bin,sbin,etc,dev,proc,sys,tmp,run,root,home,var/run,var/tmp,usr/bin,usr/sbin}
  chmod 1777 "$r/tmp" "$r/var/tmp"
  chmod 700 "$r/root"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
  printf 'hosts: files dns\npasswd: files\ngroup: files\n' >"$r/etc/nsswitch.conf"
}

busybox_into() { # install busybox-static and symlinks for all its applets
  local r=$1 a
  install -m 0755 /bin/busybox "$r/bin/busybox"
  for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] && continue
    ln -sf busybox "$r/bin/$a"
  done
}

build_busybox() {
  local key; key="$(cat "$HERE/build.sh" | sha256sum | cut -c1-16)-busybox-static=$(pkg_version busybox-static)"
  if up_to_date busybox "$key"; then log "busybox up to date"; echo "$OUT/busybox.tar"; return; fi
  local tmp; tmp="$(mktemp -d)"
  base_rootfs "$tmp/rootfs"
  busybox_into "$tmp/rootfs"
  write_oci_archive busybox docker.io/library/busybox:latest "$tmp/rootfs" \
    '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]}' \
    "$OUT/busybox.tar"
  echo "$key" >"$OUT/busybox.key"
  rm -rf "$tmp"
  echo "$OUT/busybox.tar"
}

build_pause() {
  local key; key="$(cat "$HERE/build.sh" "$HERE/pause.c" | sha256sum | cut -c1-16)-busybox-static=$(pkg_version busybox-static)"
  if up_to_date pause "$key"; then log "pause up to date"; echo "$OUT/pause.tar"; return; fi
  local tmp; tmp="$(mktemp -d)"
  mkdir -p "$tmp/rootfs"
  local cfg
  if command -v gcc >/dev/null && gcc -static -Os -o "$tmp/rootfs/pause" "$HERE/pause.c" 2>"$tmp/gcc.err"; then
    strip "$tmp/rootfs/pause" 2>/dev/null || true
    cfg='{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":["/pause"]}'
    log "pause: static C binary"
  else
    log "pause: gcc -static unavailable ($(head -c 200 "$tmp/gcc.err" 2>/dev/null)), using busybox sleep"
    base_rootfs "$tmp/rootfs"
    busybox_into "$tmp/rootfs"
    cfg='{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":["/bin/sleep","2147483647"]}'
  fi
  write_oci_archive pause registry.k8s.io/pause:3.9 "$tmp/rootfs" "$cfg" "$OUT/pause.tar"
  echo "$key" >"$OUT/pause.key"
  rm -rf "$tmp"
  echo "$OUT/pause.tar"
}

build_nginx() {
  local ver; ver="$(apt-cache policy nginx | awk '/Candidate:/ {print $2}')"
  [ -n "$ver" ] && [ "$ver" != "(none)" ] || { apt-get update -q >&2; ver="$(apt-cache policy nginx | awk '/Candidate:/ {print $2}')"; }
  local key; key="$(cat "$HERE/build.sh" | sha256sum | cut -c1-16)-nginx=$ver"
  if up_to_date nginx "$key"; then log "nginx up to date"; echo "$OUT/nginx.tar"; return; fi
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && apt-get -o APT::Sandbox::User=root download -q nginx nginx-common >&2) || {
    apt-get update -q >&2; (cd "$tmp" && apt-get -o APT::Sandbox::User=root download -q nginx nginx-common >&2); }
  mkdir -p "$tmp/x"
  local deb
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$tmp/x"; done
  local r="$tmp/rootfs"
  base_rootfs "$r"
  busybox_into "$r" # a shell and tools for exec/debugging
  install -D -m 0755 "$tmp/x/usr/sbin/nginx" "$r/usr/sbin/nginx"
  local lib
  # Every shared library nginx needs, at the same path as on the host.
  for lib in $(ldd "$tmp/x/usr/sbin/nginx" | awk '/=> \// {print $3} /^\t\// {print $1}'); do
    mkdir -p "$r$(dirname "$lib")"
    cp -L "$lib" "$r$lib"
  done
  if ldd "$tmp/x/usr/sbin/nginx" | grep -q 'not found'; then
    log "nginx: missing libraries: $(ldd "$tmp/x/usr/sbin/nginx" | grep 'not found' | tr '\n' ' ')"
    return 1
  fi
  [ -e "$r/lib64" ] || { mkdir -p "$r/lib64"; }
  cp -a "$tmp/x/etc/nginx" "$r/etc/nginx"
  rm -rf "$r/etc/nginx/modules-enabled" "$r/etc/nginx/sites-enabled"
  mkdir -p "$r/etc/nginx/modules-enabled" "$r/etc/nginx/sites-enabled"
  cat >"$r/etc/nginx/sites-enabled/default" <<'CONF'
server {
	listen 80 default_server;
	listen [::]:80 default_server;
	root /usr/share/nginx/html;
	index index.html;
	server_name _;
	location / {
		try_files $uri $uri/ =404;
	}
}
CONF
  printf 'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n' >>"$r/etc/passwd"
  printf 'www-data:x:33:\n' >>"$r/etc/group"
  mkdir -p "$r/var/log/nginx" "$r/var/lib/nginx" "$r/var/www/html" "$r/usr/share/nginx/html"
  # Logs go to the container's stdout/stderr, as in the upstream image.
  ln -sf /dev/stdout "$r/var/log/nginx/access.log"
  ln -sf /dev/stderr "$r/var/log/nginx/error.log"
  cat >"$r/usr/share/nginx/html/index.html" <<'HTML'
<!DOCTYPE html>
<html><head><title>Welcome to nginx!</title></head>
<body><h1>Welcome to nginx!</h1><p>Served by mkube's local nginx image.</p></body></html>
HTML
  cp "$r/usr/share/nginx/html/index.html" "$r/var/www/html/index.html"
  write_oci_archive nginx docker.io/library/nginx:latest "$r" \
    '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["nginx","-g","daemon off;"],"ExposedPorts":{"80/tcp":{}},"StopSignal":"SIGQUIT"}' \
    "$OUT/nginx.tar"
  echo "$key" >"$OUT/nginx.key"
  rm -rf "$tmp"
  echo "$OUT/nginx.tar"
}

# etcd for workloads (the seed's catalog StatefulSet): Debian's etcd-server and etcd-client, their
# binaries and the shared libraries ldd lists (Go, but linked against glibc), busybox tools for
# shells in pods and exec. Data in /var/lib/etcd (a volume in practice); cmd `etcd` as upstream's image.
build_etcd() {
  local ver; ver="$(apt-cache policy etcd-server | awk '/Candidate:/ {print $2}')"
  [ -n "$ver" ] && [ "$ver" != "(none)" ] || { apt-get update -q >&2; ver="$(apt-cache policy etcd-server | awk '/Candidate:/ {print $2}')"; }
  local key; key="$(cat "$HERE/build.sh" | sha256sum | cut -c1-16)-etcd-server=$ver"
  if up_to_date etcd "$key"; then log "etcd up to date"; echo "$OUT/etcd.tar"; return; fi
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && apt-get -o APT::Sandbox::User=root download -q etcd-server etcd-client >&2) || {
    apt-get update -q >&2; (cd "$tmp" && apt-get -o APT::Sandbox::User=root download -q etcd-server etcd-client >&2); }
  mkdir -p "$tmp/x"
  local deb
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$tmp/x"; done
  local r="$tmp/rootfs" bin lib
  base_rootfs "$r"
  busybox_into "$r"
  for bin in etcd etcdctl; do
    install -D -m 0755 "$tmp/x/usr/bin/$bin" "$r/usr/bin/$bin"
    if ldd "$tmp/x/usr/bin/$bin" | grep -q 'not found'; then
      log "etcd: $bin: missing libraries: $(ldd "$tmp/x/usr/bin/$bin" | grep 'not found' | tr '\n' ' ')"
      return 1
    fi
    # Nothing for a static binary ("not a dynamic executable"); else each library at its host path.
    for lib in $(ldd "$tmp/x/usr/bin/$bin" 2>/dev/null | awk '/=> \// {print $3} /^\t\// {print $1}'); do
      mkdir -p "$r$(dirname "$lib")"
      cp -L "$lib" "$r$lib"
    done
  done
  mkdir -p "$r/var/lib/etcd"
  chmod 700 "$r/var/lib/etcd"
  write_oci_archive etcd docker.io/library/etcd:3.4 "$r" \
    '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","ETCDCTL_API=3"],"Cmd":["etcd"],"ExposedPorts":{"2379/tcp":{},"2380/tcp":{}},"WorkingDir":"/var/lib/etcd"}' \
    "$OUT/etcd.tar"
  echo "$key" >"$OUT/etcd.key"
  rm -rf "$tmp"
  echo "$OUT/etcd.tar"
}

main() {
  ensure_packages busybox-static tar coreutils
  mkdir -p "$OUT"
  # One builder at a time per output dir (tests may run in parallel).
  exec 8>"$OUT/.lock"
  flock -w 300 8 || { echo "images: timed out waiting for $OUT/.lock" >&2; exit 1; }
  rm -rf "$OUT"/.build-* 2>/dev/null || true
  local targets=("$@")
  [ ${#targets[@]} -gt 0 ] || targets=(busybox pause nginx etcd)
  local t
  for t in "${targets[@]}"; do
    case "$t" in
      busybox) build_busybox ;;
      pause) build_pause ;;
      nginx) build_nginx ;;
      etcd) build_etcd ;;
      *) echo "images: unknown image '$t' (busybox|pause|nginx|etcd)" >&2; exit 2 ;;
    esac
  done
}

main "$@"

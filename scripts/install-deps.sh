#!/usr/bin/env bash
# Installs what the test suite needs from Debian when it is missing: the FTP
# clients the integration suite drives (curl, lftp, wget, python3), HAProxy, a
# Docker Engine with docker-compose (integration/containers_test.go), and the
# pinned MinIO. Starts the Docker Engine and enables IPv6 on loopback when they
# are off.
set -euo pipefail
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
missing=()
# haproxy: integration/haproxy_test.go runs deploy/haproxy/haproxy.cfg for real,
# and the container tests put Debian's binary into an image.
for tool in curl lftp wget python3 haproxy; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("$tool")
done
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} from Debian" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
fi

# The container tests need a running engine (no registry: they build every
# image themselves).
engine_up() {
  for _ in $(seq "$1"); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}
if ! docker info >/dev/null 2>&1; then
  echo "starting the Docker Engine" >&2
  $sudo service docker start >/dev/null 2>&1 || true
  if ! engine_up 20; then
    $sudo sh -c 'nohup dockerd >/var/log/dockerd.log 2>&1 &'
    engine_up 60 || { echo "the Docker Engine did not start (see /var/log/dockerd.log)" >&2; exit 1; }
  fi
fi

# The tests listen on ::1 as well as 127.0.0.1; a fresh machine may have IPv6
# off on loopback.
has_ipv6_lo() { grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null; }
if ! has_ipv6_lo; then
  echo "enabling IPv6 on loopback" >&2
  $sudo sysctl -q -w net.ipv6.conf.lo.disable_ipv6=0 >&2 || true
  has_ipv6_lo || { echo "IPv6 loopback (::1) is not available" >&2; exit 1; }
fi

bash "$(dirname "$0")/install-minio.sh" >/dev/null

#!/usr/bin/env bash
# Installs the FTP clients the integration suite drives (curl, lftp, wget,
# python3) from Debian when one is missing, and the pinned MinIO.
set -euo pipefail
missing=()
# haproxy: integration/haproxy_test.go runs deploy/haproxy/haproxy.cfg for real.
for tool in curl lftp wget python3 haproxy; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing ${missing[*]} from Debian" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
fi
bash "$(dirname "$0")/install-minio.sh" >/dev/null

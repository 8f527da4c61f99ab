#!/usr/bin/env bash
# Installs the pinned rclone into a cache folder (once; the first build takes several
# minutes on two cores) and prints the binary's path on stdout. The bench runs
# `rclone serve ftp` as a peer (integration/bench/peers.go, docs/benchmarks.md).
#   FTP2S3_CACHE  cache folder (default: ${XDG_CACHE_HOME:-$HOME/.cache}/ftp2s3)
set -euo pipefail
RCLONE_VERSION=v1.76.0
cache="${FTP2S3_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ftp2s3}"
dir="$cache/rclone-$RCLONE_VERSION"
bin="$dir/rclone"
if [ ! -x "$bin" ]; then
  mkdir -p "$dir"
  echo "installing rclone $RCLONE_VERSION into $dir (first time only; this takes several minutes)" >&2
  # A lock keeps two bench runs from building it twice.
  exec 9>"$dir.lock"
  flock 9
  if [ ! -x "$bin" ]; then
    tmp="$(mktemp -d "$dir.tmp.XXXXXX")"
    # Built the way MinIO is (scripts/install-minio.sh): static, from the module proxy.
    CGO_ENABLED=0 GOBIN="$tmp" GOFLAGS=-mod=mod go install -trimpath "github.com/rclone/rclone@$RCLONE_VERSION" >&2
    mv "$tmp/rclone" "$bin"
    rmdir "$tmp"
  fi
fi
echo "$bin"

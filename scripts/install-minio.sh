#!/usr/bin/env bash
# Installs the pinned MinIO server into a cache folder (once; the first build takes
# several minutes) and prints the binary's path on stdout.
#   FTP2S3_CACHE  cache folder (default: ${XDG_CACHE_HOME:-$HOME/.cache}/ftp2s3)
set -euo pipefail
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
cache="${FTP2S3_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ftp2s3}"
# Built static (CGO off) so that the very same binary runs in the tests and in the
# container image the suite builds FROM scratch (deploy/minio/Dockerfile).
dir="$cache/minio-$MINIO_VERSION-static"
bin="$dir/minio"
if [ ! -x "$bin" ]; then
  mkdir -p "$dir"
  echo "installing MinIO $MINIO_VERSION into $dir (first time only; this takes several minutes)" >&2
  # A lock keeps parallel test binaries from building it twice.
  exec 9>"$dir.lock"
  flock 9
  if [ ! -x "$bin" ]; then
    tmp="$(mktemp -d "$dir.tmp.XXXXXX")"
    CGO_ENABLED=0 GOBIN="$tmp" GOFLAGS=-mod=mod go install -trimpath "github.com/minio/minio@$MINIO_VERSION" >&2
    mv "$tmp/minio" "$bin"
    rmdir "$tmp"
  fi
fi
echo "$bin"

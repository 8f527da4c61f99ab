#!/usr/bin/env bash
# Builds the two images docker-compose.yml runs, ftp2s3:local and
# ftp2s3-minio:<MinIO version>, without any registry: the binaries are built
# on this machine (static, as the Dockerfiles build them), and only the last
# stage of each Dockerfile runs, on a build stage made from those binaries
# with `docker import` instead of the golang image. Afterwards
# `docker-compose up -d` uses the images as they are (it builds only missing
# ones). Needs Go, Docker and tar; the first run compiles MinIO into the cache
# (scripts/install-minio.sh, about ten minutes on 2 cores).
#
#   bash scripts/build-images.sh
#   GATEWAY_IMAGE=registry.example.com/ftp2s3:1 bash scripts/build-images.sh   # other tags
#
# integration/operators_images_test.go runs this script.
set -euo pipefail
cd "$(dirname "$0")/.."

minio_version="$(sed -n 's/^MINIO_VERSION=//p' scripts/install-minio.sh)"
gateway_image="${GATEWAY_IMAGE:-ftp2s3:local}"
minio_image="${MINIO_IMAGE:-ftp2s3-minio:$minio_version}"
stage_tag="ftp2s3-build-stage-$$"

tmp="$(mktemp -d)"
cleanup() {
  docker rmi -f "$stage_tag-gateway:local" "$stage_tag-minio:local" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "building the static binaries" >&2
mkdir -p "$tmp/gateway/rootfs/usr/local/bin" "$tmp/gateway/rootfs/etc/ssl/certs" \
         "$tmp/minio/rootfs/usr/local/bin" "$tmp/minio/rootfs/etc/ssl/certs" \
         "$tmp/minio/rootfs/data" "$tmp/minio/rootfs/tmp"
CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o "$tmp/gateway/rootfs/usr/local/bin/ftp2s3" ./cmd/ftp2s3
CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o "$tmp/minio/rootfs/usr/local/bin/healthprobe" ./deploy/minio/healthprobe
minio_bin="$(bash scripts/install-minio.sh)"
cp "$minio_bin" "$tmp/minio/rootfs/usr/local/bin/minio"

# What the Dockerfiles' build stages put beside the binaries: CA certificates
# and the non-root user (65532).
for name in gateway minio; do
  user=nonroot home=/nonexistent
  [ "$name" = minio ] && user=minio home=/data
  cp /etc/ssl/certs/ca-certificates.crt "$tmp/$name/rootfs/etc/ssl/certs/"
  echo "$user:x:65532:65532:$user:$home:/sbin/nologin" >"$tmp/$name/rootfs/etc/passwd"
  echo "$user:x:65532:" >"$tmp/$name/rootfs/etc/group"
done
chmod 755 "$tmp"/*/rootfs/usr/local/bin/*
chmod 644 "$tmp"/*/rootfs/etc/passwd "$tmp"/*/rootfs/etc/group
chmod 1777 "$tmp/minio/rootfs/tmp"

# stage NAME: the build stage as an image, every file owned by root except
# MinIO's /data, which its user must be able to write into a fresh volume.
stage() {
  local name="$1"
  (
    cd "$tmp/$name"
    tar --numeric-owner --owner=0 --group=0 --exclude=rootfs/data -cf "$tmp/$name.tar" rootfs
    if [ "$name" = minio ]; then
      tar --numeric-owner --owner=65532 --group=65532 --no-recursion -rf "$tmp/$name.tar" rootfs/data
    fi
  )
  docker import "$tmp/$name.tar" "$stage_tag-$name:local" >/dev/null
}

# final DOCKERFILE NAME TAG: the Dockerfile's global ARGs and its last stage,
# taking /rootfs/ from the imported stage instead of the Go build.
final() {
  local dockerfile="$1" name="$2" tag="$3"
  mkdir -p "$tmp/$name-final"
  awk -v stage="$stage_tag-$name:local" '
    /^FROM / { froms++ }
    froms == 0 && /^ARG / { print; next }
    { lines[NR] = $0; at[NR] = froms }
    END {
      for (i = 1; i <= NR; i++) if (at[i] == froms && froms > 0) {
        line = lines[i]
        sub(/^COPY --from=build /, "COPY --from=" stage " ", line)
        print line
      }
    }' "$dockerfile" >"$tmp/$name-final/Dockerfile"
  if ! grep -q "^COPY --from=$stage_tag-$name:local /rootfs/ /" "$tmp/$name-final/Dockerfile"; then
    echo "$dockerfile: its last stage does not COPY --from=build /rootfs/ /" >&2
    exit 1
  fi
  docker build --rm --force-rm -q -t "$tag" "$tmp/$name-final" >/dev/null
  echo "built $tag" >&2
}

stage gateway
final Dockerfile gateway "$gateway_image"
stage minio
final deploy/minio/Dockerfile minio "$minio_image"
echo "$gateway_image"
echo "$minio_image"

# ftp2s3: a static binary in a minimal, non-root image.
#   docker build -t ftp2s3:local .
#   docker-compose up -d          (see docker-compose.yml and docs/containers.md)
#   bash scripts/build-images.sh  (the same image without a registry)
#
# Both base images are build arguments, so that a machine with a registry
# mirror, or without a registry (integration/containers_test.go builds this
# file's last stage on images it makes itself), can choose them.
#   golang:1.26.8-bookworm: Go 1.26.8 is the toolchain this repository is
#     built and tested with (`go version` on the build machine, 2026-11-29),
#     and the tag is in use in other public projects' Dockerfiles (a code
#     search, 2026-11-29); the registry itself was not reachable to check.
#   scratch: not an image at all; nothing to pull or pin. What the binary needs
#     besides itself (CA certificates for S3 over HTTPS, a passwd entry for the
#     non-root user) comes from the build stage.
ARG GO_IMAGE=golang:1.26.8-bookworm
ARG RUNTIME_IMAGE=scratch

# --- build ------------------------------------------------------------------
FROM ${GO_IMAGE} AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY gateway ./gateway
COPY session ./session
COPY storage ./storage
# CGO off: a fully static binary that needs no libc in the final image.
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /rootfs/usr/local/bin/ftp2s3 ./cmd/ftp2s3
# The rest of the image's file system: CA certificates and the user.
RUN mkdir -p /rootfs/etc/ssl/certs \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && echo 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin' >/rootfs/etc/passwd \
 && echo 'nonroot:x:65532:' >/rootfs/etc/group

# --- run --------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}
COPY --from=build /rootfs/ /
USER 65532:65532
# The operations endpoint (/metrics, /healthz, /readyz); the HEALTHCHECK uses it.
ENV FTP2S3_LISTEN=:2121 \
    FTP2S3_METRICS_LISTEN=:9100 \
    FTP2S3_LOG_FORMAT=json
# Control port and operations port. The passive range is not exposed here:
# it is whatever FTP2S3_PASSIVE_PORTS says, published port for port by the
# compose file (or `docker run -p 30000-30009:30000-30009`), and an EXPOSEd
# range would only invite `docker run -P`, which maps it to random host ports
# that PASV replies cannot name. docs/containers.md says more.
EXPOSE 2121 9100
# No shell in the image: the binary probes itself (GET /healthz on
# FTP2S3_METRICS_LISTEN, or the 220 greeting on FTP2S3_LISTEN when that is empty).
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/ftp2s3", "healthcheck"]
# SIGTERM (docker stop) drains: new clients get 421, running transfers have
# FTP2S3_SHUTDOWN_GRACE to finish. Give docker stop more time than that
# (stop_grace_period in compose, --stop-timeout with docker run).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ftp2s3"]

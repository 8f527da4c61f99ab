# syntax=docker/dockerfile:1
# ftp2s3: a static binary in a minimal, non-root image.
#   docker build -t ftp2s3 .
#   docker compose up -d          (see docker-compose.yml and the README)

# --- build ------------------------------------------------------------------
FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY gateway ./gateway
COPY session ./session
COPY storage ./storage
# CGO off: a fully static binary that needs no libc in the final image.
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/ftp2s3 ./cmd/ftp2s3

# --- run --------------------------------------------------------------------
# distroless/static: CA certificates (for S3 over HTTPS), tzdata, /etc/passwd
# with the "nonroot" user (65532), and nothing else: no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ftp2s3 /usr/local/bin/ftp2s3
USER 65532:65532
# The operations endpoint (/metrics, /healthz, /readyz); the HEALTHCHECK uses it.
ENV FTP2S3_LISTEN=:2121 \
    FTP2S3_METRICS_LISTEN=:9100 \
    FTP2S3_LOG_FORMAT=json
# Control port, operations port, and the default passive range. Publish the
# passive range you configure (FTP2S3_PASSIVE_PORTS), port for port.
EXPOSE 2121 9100 30000-30099
# No shell in the image: the binary probes itself (GET /healthz on
# FTP2S3_METRICS_LISTEN, or the 220 greeting on FTP2S3_LISTEN when that is empty).
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/ftp2s3", "healthcheck"]
# SIGTERM (docker stop) drains: new clients get 421, running transfers have
# FTP2S3_SHUTDOWN_GRACE to finish. Give docker stop more time than that
# (stop_grace_period in compose, --stop-timeout with docker run).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ftp2s3"]

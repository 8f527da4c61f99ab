#!/usr/bin/env bash
# The whole test suite: unit tests, and end-to-end tests against a real MinIO with
# real FTP clients. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
unformatted="$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"
if [ -n "$unformatted" ]; then
  echo "gofmt needed on: $unformatted" >&2
  exit 1
fi
go vet ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
if ! go mod tidy -diff >&2; then
  echo "go.mod/go.sum are not tidy: run go mod tidy" >&2
  exit 1
fi
# The Helm chart's tests are a module of their own (deploy/helm/test), so that
# Helm and the Kubernetes API types never enter the product's go.mod; the
# product's ./... does not reach into it.
(
  cd deploy/helm/test
  if ! go mod tidy -diff >&2; then
    echo "deploy/helm/test: go.mod/go.sum are not tidy: run go mod tidy there" >&2
    exit 1
  fi
  go vet ./...
  go test -count=1 ./...
)
# -parallel 8: the integration tests all call t.Parallel, and they mostly wait
# on sockets, MinIO and client processes rather than compute; the default
# (GOMAXPROCS, 2 on a 2-core runner) would run them two at a time. Set
# FTP2S3_TEST_JSON to a file to keep a go test -json record of the run
# (scripts/test-times.py tables where its time went).
flags=(-race -count=1 -timeout 60m -parallel 8)
if [ -n "${FTP2S3_TEST_JSON:-}" ]; then
  status=0
  go test "${flags[@]}" -json ./... >"$FTP2S3_TEST_JSON" || status=$?
  python3 scripts/test-times.py -n 25 "$FTP2S3_TEST_JSON"
  exit $status
fi
go test "${flags[@]}" ./...

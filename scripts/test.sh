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
go test -race -count=1 -timeout 60m ./...

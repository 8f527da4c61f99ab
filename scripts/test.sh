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
go test -race -count=1 -timeout 60m ./...

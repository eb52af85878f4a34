#!/usr/bin/env bash
# examples/go/run.sh: run the Go recipe's tests (go test -v) in GOPATH mode,
# with Debian's lib/pq (golang-github-lib-pq-dev, under /usr/share/gocode).
# The server is the one the libpq environment names (PGHOST, PGPORT, PGUSER,
# PGDATABASE), with capquery created in that database.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GOPATH_DIR=$(mktemp -d /tmp/capq-go.XXXXXX)
trap 'rm -rf "$GOPATH_DIR"' EXIT
# GOPATH mode finds packages under GOPATH/src: link the recipe there
mkdir -p "$GOPATH_DIR/src/capquery.example"
ln -s "$HERE" "$GOPATH_DIR/src/capquery.example/alarm"
cd "$GOPATH_DIR/src/capquery.example/alarm"
export GO111MODULE=off GOPATH="$GOPATH_DIR:/usr/share/gocode" GOFLAGS=
export GOCACHE=${GOCACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/go-build}
exec go test -v -count=1 "$@" .

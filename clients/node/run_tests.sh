#!/usr/bin/env bash
# Runs Twilio's official Node.js SDK (the npm `twilio` package, 5.x, unmodified) against
# `userstore replay` through the httpClient in index.js:
#
#   clients/node/run_tests.sh path/to/userstore
#
# Installs the test dependencies from package-lock.json into clients/node/node_modules (npm ci,
# which needs npm's registry; skipped when what is installed already satisfies package.json),
# then runs `node --test`. Exit status: 0 when every test passed; 77 (the ctest `node.sdk`'s
# SKIP_RETURN_CODE) when node or npm is not installed; 1 when the install or a test failed; 2 for
# a usage error.
set -euo pipefail

if [ "$#" -ne 1 ]; then
  echo "usage: $0 path/to/userstore" >&2
  exit 2
fi
if [ ! -x "$1" ]; then
  echo "$0: '$1' is not an executable userstore tool (build the userstore_cli target)" >&2
  exit 2
fi
case "$1" in
  /*) binary="$1" ;;
  *) binary="$PWD/$1" ;;
esac

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIPPED: '$tool' is not installed, so the Node.js SDK tests cannot run" \
         "(bash .ci/setup installs node and npm)"
    exit 77
  fi
done
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'; then
  echo "FAILED: node $(node --version) is too old: the tests need node 18 or later" >&2
  exit 1
fi

case "$0" in
  */*) cd "${0%/*}" ;;
esac
if npm ls --depth=0 >/dev/null 2>&1; then
  echo "test dependencies already installed: $(npm ls --depth=0 2>/dev/null | grep -o 'twilio@.*')"
else
  echo "installing the test dependencies (npm ci: needs npm's registry)"
  if ! npm ci --no-audit --no-fund; then
    echo "FAILED: npm could not install the test dependencies (the 'twilio' package):" \
         "the Node.js SDK tests need npm's registry" >&2
    exit 1
  fi
fi

export USERSTORE_BIN="$binary"
exec node --test test/*_test.js

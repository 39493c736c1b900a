#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# Warnings are errors (CI runs this script). Setup builds with the same flags, so the tree is built once.
export RACHIS_SWIFT_FLAGS="-Xswiftc -warnings-as-errors"
scripts/setup.sh
# shellcheck disable=SC2086
swift test $RACHIS_SWIFT_FLAGS "$@"

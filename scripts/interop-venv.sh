#!/usr/bin/env bash
# Cached Python venv holding Microsoft's Azure Kinect libraries (libk4a, libk4arecord 1.4.2 from the
# PyPI wheel pyk4a-bundle==1.5.0) for the interop tests (docs/testing.md, "Interop with Microsoft's
# library").
#
# On success prints the venv's python path on stdout (and nothing else there); progress goes to
# stderr. Idempotent: an existing venv whose python already loads both libraries is reused as is.
# On a machine the wheel does not exist for (it is built for x86-64 Linux, CPython 3.11 only) it
# prints "interop skipped: <reason>" on stderr, prints nothing on stdout, writes the reason to
# $VENV.skipped and exits 0, so callers can tell "skipped" (empty output) from "failed" (non-zero).
set -euo pipefail

CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/k4sync
VENV=$CACHE/interop-venv
BUNDLE='pyk4a-bundle==1.5.0'
NUMPY='numpy<2'
HERE=$(cd "$(dirname "$0")/.." && pwd)
PROBE=$HERE/tests/interop/k4a_ctypes.py
export PYTHONDONTWRITEBYTECODE=1

skip() {
  mkdir -p "$CACHE"
  printf '%s\n' "$1" >"$VENV.skipped"
  printf 'interop skipped: %s\n' "$1" >&2
  exit 0
}

arch=$(uname -m)
[ "$(uname -s)" = Linux ] || skip "the pyk4a-bundle wheel is Linux-only (this is $(uname -s))"
[ "$arch" = x86_64 ] || skip "the pyk4a-bundle wheel is x86-64 only (this machine is $arch)"

PY=$(command -v python3.11 || true)
if [ -z "$PY" ] && command -v python3 >/dev/null &&
  [ "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = 3.11 ]; then
  PY=$(command -v python3)
fi
[ -n "$PY" ] || skip "no CPython 3.11 found (the wheel is built for cp311 only)"
rm -f "$VENV.skipped"

ready() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" "$PROBE" --check >/dev/null 2>&1
}

if ! ready; then
  echo "interop: creating $VENV with $BUNDLE" >&2
  mkdir -p "$CACHE"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV" >&2
  "$VENV/bin/python" -m pip install --quiet "$BUNDLE" "$NUMPY" >&2
  if ! ready; then
    "$VENV/bin/python" "$PROBE" --check >&2 || true
    echo "interop: the venv at $VENV cannot load libk4a/libk4arecord" >&2
    exit 1
  fi
fi
echo "$VENV/bin/python"

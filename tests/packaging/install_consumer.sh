#!/bin/sh
# Installs the build tree into a temporary prefix, builds a program outside the
# project with pkg-config, and runs it against the installed library.
set -eu
build=$1
here=$2
extra_cflags=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pc=$(find "$tmp/prefix" -name daemonctx.pc)
[ -n "$pc" ] || { echo "no daemonctx.pc installed"; exit 1; }
export PKG_CONFIG_PATH="$(dirname "$pc")"
# shellcheck disable=SC2046
# shellcheck disable=SC2086
"${CC:-cc}" -std=c99 -Wall -Werror $extra_cflags -o "$tmp/consumer" "$here/consumer.c" $(pkg-config --cflags --libs daemonctx)
libdir=$(pkg-config --variable=libdir daemonctx)
out=$(LD_LIBRARY_PATH="$libdir" "$tmp/consumer" "$tmp/consumer.pid")
expected="$(pkg-config --modversion daemonctx) ok"
[ "$out" = "$expected" ] || { echo "consumer printed '$out', expected '$expected'"; exit 1; }
# The installed library is the one that ran: it is the only one on the path.
ls "$libdir"/libdaemonctx.so.* >/dev/null
[ -e "$tmp/consumer.pid" ] && { echo "consumer left its pidfile behind"; exit 1; }
echo "installed tree OK"

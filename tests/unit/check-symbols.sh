#!/bin/sh
# check-symbols.sh MODE LIBRARY HEADER
#   prefix:  every dynamic symbol LIBRARY defines starts with daemonctx_
#            (version nodes, type A, are not symbols of the API)
#   api:     every function HEADER declares with DAEMONCTX_API is exported
set -eu
mode=$1 lib=$2 header=$3
command -v nm >/dev/null || { echo "nm (binutils) is required" >&2; exit 1; }
[ -f "$lib" ] || { echo "no library at $lib" >&2; exit 1; }
defined=$(nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' | sed 's/@.*//' | sort -u)
[ -n "$defined" ] || { echo "FAIL: $lib exports no symbol at all" >&2; exit 1; }
case $mode in
prefix)
    bad=$(printf '%s\n' "$defined" | grep -v '^daemonctx_' || true)
    if [ -n "$bad" ]; then
        echo "FAIL: symbols exported by $lib without the daemonctx_ prefix:" >&2
        printf '  %s\n' $bad >&2
        exit 1
    fi
    echo "all $(printf '%s\n' "$defined" | wc -l) exported symbols start with daemonctx_"
    ;;
api)
    # names of functions declared DAEMONCTX_API ... daemonctx_NAME(
    api=$(tr '\n' ' ' < "$header" | grep -o 'DAEMONCTX_API[^;(]*daemonctx_[a-z_0-9]*[[:space:]]*(' |
          grep -o 'daemonctx_[a-z_0-9]*[[:space:]]*($' | tr -d ' (' | sort -u)
    [ -n "$api" ] || { echo "FAIL: no DAEMONCTX_API declarations found in $header" >&2; exit 1; }
    missing=""
    for f in $api; do
        printf '%s\n' "$defined" | grep -qx "$f" || missing="$missing $f"
    done
    if [ -n "$missing" ]; then
        echo "FAIL: declared in $header but not exported by $lib:$missing" >&2
        exit 1
    fi
    echo "all $(printf '%s\n' "$api" | wc -l) public functions are exported"
    ;;
*) echo "usage: $0 prefix|api LIBRARY HEADER" >&2; exit 2 ;;
esac

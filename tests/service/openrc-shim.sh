#!/bin/sh
# Runs an OpenRC service script's start/stop/status without OpenRC: the
# helpers openrc-run provides (ebegin, eend, einfo, ewarn, eerror, checkpath),
# reduced to what a script needs, then the script's own function.
#   openrc-shim.sh SCRIPT start|stop|status
set -u
script=$1
action=$2
RC_SVCNAME=$(basename "$script")
export RC_SVCNAME

ebegin() { printf ' * %s ...\n' "$*"; }
eend() {
    rc=${1:-0}
    shift 2>/dev/null || true
    if [ "$rc" -eq 0 ]; then
        echo ' [ ok ]'
    else
        [ $# -gt 0 ] && printf ' * ERROR: %s\n' "$*" >&2
        echo ' [ !! ]'
    fi
    return "$rc"
}
einfo() { printf ' * %s\n' "$*"; }
ewarn() { printf ' * WARNING: %s\n' "$*" >&2; }
eerror() { printf ' * ERROR: %s\n' "$*" >&2; }
checkpath() {
    dir=0 mode= owner=
    while [ $# -gt 0 ]; do
        case $1 in
        -d | --directory) dir=1 ;;
        -m | --mode) mode=$2; shift ;;
        -o | --owner) owner=$2; shift ;;
        *) path=$1 ;;
        esac
        shift
    done
    [ "$dir" -eq 1 ] || { eerror "checkpath: only --directory is emulated"; return 1; }
    mkdir -p "$path" || return 1
    [ -z "$mode" ] || chmod "$mode" "$path" || return 1
    [ -z "$owner" ] || chown "$owner" "$path" || return 1
}

# shellcheck disable=SC1090
. "$script"
case $action in
start | stop | status) "$action" ;;
*) echo "openrc-shim: unknown action $action" >&2; exit 2 ;;
esac

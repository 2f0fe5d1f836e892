#!/bin/bash
# Tests of the bash completion for daemonctx: loads Debian's bash-completion
# and completion/daemonctx in a non-interactive bash, then drives _daemonctx
# the way readline does (COMP_WORDS, COMP_CWORD, COMP_LINE, COMP_POINT) and
# checks COMPREPLY.
#   test-completion.bash COMPLETION_FILE CASE
set -u
file=$1
case_name=$2

framework=/usr/share/bash-completion/bash_completion
if [ ! -r "$framework" ]; then
    echo "SKIP: $framework missing (Debian: apt-get install bash-completion)" >&2
    exit 77
fi
# shellcheck disable=SC1090
. "$framework"
# shellcheck disable=SC1090
. "$file"
complete -p daemonctx >/dev/null || { echo "FAIL: no completion registered for daemonctx"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# Split LINE as readline does: words at blanks, and each of COMP_WORDBREAKS'
# = and : as a word of its own.
split_line() {
    local line=$1 word="" ch i
    COMP_WORDS=()
    for ((i = 0; i < ${#line}; i++)); do
        ch=${line:i:1}
        case $ch in
        ' ')
            [ -n "$word" ] && COMP_WORDS+=("$word")
            word=""
            ;;
        '=' | ':')
            [ -n "$word" ] && COMP_WORDS+=("$word")
            COMP_WORDS+=("$ch")
            word=""
            ;;
        *) word+=$ch ;;
        esac
    done
    # The word being completed (empty after a blank).
    COMP_WORDS+=("$word")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
}

# complete LINE: run the completion function on LINE (cursor at its end),
# leaving the sorted candidates in $got (one per line).
complete_line() {
    local line=$1
    split_line "$line"
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMP_TYPE=9
    COMP_KEY=9
    COMPREPLY=()
    local cur=${COMP_WORDS[COMP_CWORD]} prev=""
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    _daemonctx daemonctx "$cur" "$prev"
    got=$(printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort -u | sed '/^$/d')
}

# expect LINE WORD...: exactly these candidates.
expect() {
    local line=$1
    shift
    complete_line "$line"
    local want
    want=$(printf '%s\n' "$@" | LC_ALL=C sort -u | sed '/^$/d')
    if [ "$got" != "$want" ]; then
        printf 'FAIL: "%s"\n  got:  %s\n  want: %s\n' "$line" "$(echo $got)" "$(echo $want)"
        failures=$((failures + 1))
    else
        printf 'ok: "%s" -> %s\n' "$line" "$(echo $got)"
    fi
}

# expect_has LINE WORD...: at least these candidates.
expect_has() {
    local line=$1 w
    shift
    complete_line "$line"
    for w in "$@"; do
        if ! printf '%s\n' "$got" | grep -qxF -- "$w"; then
            printf 'FAIL: "%s": no "%s" among: %s\n' "$line" "$w" "$(echo $got)"
            failures=$((failures + 1))
            return
        fi
    done
    printf 'ok: "%s" has %s\n' "$line" "$*"
}

# expect_not LINE WORD...: none of these.
expect_not() {
    local line=$1 w
    shift
    complete_line "$line"
    for w in "$@"; do
        if printf '%s\n' "$got" | grep -qxF -- "$w"; then
            printf 'FAIL: "%s": "%s" should not be offered (got: %s)\n' "$line" "$w" "$(echo $got)"
            failures=$((failures + 1))
            return
        fi
    done
    printf 'ok: "%s" lacks %s\n' "$line" "$*"
}

case $case_name in
subcommands)
    expect "daemonctx " reopen run start status stop
    expect "daemonctx st" start status stop
    expect "daemonctx sto" stop
    expect "daemonctx --" --help --version
    ;;
start_options)
    expect "daemonctx start --sup" --supervise
    expect "daemonctx start --re" --restart --restart-delay= --restart-max-delay= --ready=
    expect "daemonctx start --pid" --pidfile=
    expect_has "daemonctx start --" --pidfile= --chdir= --chroot= --umask= --user= --group= --allow-core \
        --detach= --keep-fd= --stdin= --stdout= --stderr= --syslog --supervise --restart --ready= --timeout= \
        --dry-run --verbose --help --limit= --nice= --oom-score-adjust= --env= --env-file= --clear-env --runtime-dir= --runtime-dir-mode= --cgroup=
    expect_not "daemonctx start --" --json --signal=
    ;;
run_reopen_options)
    expect_has "daemonctx run --" --pidfile= --user= --ready= --restart --signal-group --subreaper --grace= \
        --log-timestamps --stdout=
    expect_not "daemonctx run --" --detach= --supervise
    expect "daemonctx run --sub" --subreaper
    expect_has "daemonctx run -- ech" echo
    expect "daemonctx reopen --" --pidfile= --timeout= --verbose --help
    ;;
stop_status_options)
    expect "daemonctx status --" --pidfile= --json --help
    expect "daemonctx stop --s" --signal=
    expect "daemonctx stop --" --pidfile= --signal= --timeout= --retry= --verbose --help
    expect "daemonctx stop --retry=" TERM/30/KILL/5 TERM/10/KILL/5
    ;;
signals)
    expect "daemonctx stop --signal=TE" TERM
    expect "daemonctx stop -s KI" KILL
    expect "daemonctx stop --signal=USR" USR1 USR2
    expect "daemonctx start --ignore-signal=HU" HUP
    expect "daemonctx start --ignore-signal HU" HUP
    ;;
users_groups)
    expect_has "daemonctx start -u roo" root
    expect_has "daemonctx start --user=roo" root
    expect_has "daemonctx start --user=" root
    expect_has "daemonctx start -g roo" root
    expect_has "daemonctx start --group=roo" root
    ;;
files)
    mkdir "$tmp/sub" "$tmp/sdir"
    : >"$tmp/a.pid"
    : >"$tmp/sfile"
    expect "daemonctx status -p $tmp/a" "$tmp/a.pid"
    expect "daemonctx stop --pidfile=$tmp/a" "$tmp/a.pid"
    expect "daemonctx start --stdout=$tmp/sf" "$tmp/sfile"
    expect "daemonctx start --env-file=$tmp/sf" "$tmp/sfile"
    # directories only for --chdir and --chroot
    expect "daemonctx start --chdir=$tmp/s" "$tmp/sdir" "$tmp/sub"
    expect "daemonctx start --runtime-dir=$tmp/s" "$tmp/sdir" "$tmp/sub"
    expect "daemonctx start -r $tmp/s" "$tmp/sdir" "$tmp/sub"
    ;;
values)
    expect "daemonctx start --detach=" auto no yes
    expect "daemonctx start --ready=" exec fd: notify
    expect "daemonctx start --limit=no" nofile=
    expect "daemonctx start --cgroup=" auto none
    expect "daemonctx start --limit=n" nice= nofile= nproc=
    expect "daemonctx start --syslog=dae" daemon.
    expect "daemonctx start --syslog=daemon.no" daemon.notice
    expect "daemonctx start --umask=0" 022 027 077 002 007
    expect "daemonctx start --umask=02" 022 027
    ;;
program)
    expect_has "daemonctx start -- ech" echo
    expect_has "daemonctx start --pidfile=/tmp/x.pid ech" echo
    expect_has "daemonctx start -p /tmp/x.pid --supervise ech" echo
    expect_has "daemonctx start --ready=fd:3 --detach no ech" echo
    expect_has "daemonctx start --ready fd:3 ech" echo
    # after PROGRAM, its own arguments, not daemonctx's options
    expect_not "daemonctx start -- sleep --" --pidfile= --supervise
    # an option value is not PROGRAM
    expect "daemonctx start -p $tmp/no" ""
    ;;
*)
    echo "unknown case $case_name" >&2
    exit 2
    ;;
esac

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi

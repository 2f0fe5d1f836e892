#!/bin/sh
# man_check.sh lint MAN          groff -mdoc -ww reports nothing (77: no groff)
# man_check.sh options MAN SRC   every long option in SRC/*.c is in MAN
set -u
mode=$1 man=$2
case $mode in
lint)
    command -v groff >/dev/null 2>&1 || { echo "groff is not installed: skipped"; exit 77; }
    out=$(LC_ALL=C groff -mdoc -ww -z "$man" 2>&1) || { echo "$out"; exit 1; }
    [ -z "$out" ] || { echo "$out"; exit 1; }
    ;;
options)
    # The long option tables: {"name", required_argument|no_argument|...
    opts=$(grep -oh '{"[a-z-]*", *[a-z_]*_argument' "$3"/*.c | sed 's/{"\([a-z-]*\)".*/\1/' | sort -u)
    [ -n "$opts" ] || { echo "no option table found in $3"; exit 1; }
    # mdoc writes --name as "Fl \-name" (or "Fl -name"), hyphens escaped or not
    text=$(sed 's/\\-/-/g' "$man")
    missing=
    for o in $opts; do
        printf '%s\n' "$text" | grep -Eq "Fl -$o([^a-z-]|\$)" || missing="$missing --$o"
    done
    [ -z "$missing" ] || { echo "not documented in $man:$missing"; exit 1; }
    ;;
*)
    echo "usage: $0 lint MAN | options MAN SRC" >&2
    exit 2
    ;;
esac

#!/bin/sh
# fake xl for host tests of density.sh: domains are files in $FAKEXL
S=${FAKEXL:?}
mkdir -p "$S"
[ "$1" = -vvv ] && shift
# FAKEXL_LEAN=1: the run creates with leanxl; xl may only list (and report info)
if [ -n "$FAKEXL_LEAN" ] && { [ "$1" = create ] || [ "$1" = destroy ]; }; then
    echo "fake xl: xl $1 called in a leanxl run" >&2
    exit 9
fi
case "$1" in
create)
    shift
    [ "$1" = -e ] && shift
    name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$1")
    [ -e "$S/$name" ] && { echo "libxl: error: domain $name already exists" >&2; exit 3; }
    case "$name" in *-7) if [ -e "$S/.fail7" ]; then echo "libxl: error: Too many open files, really" >&2; exit 3; fi;; esac
    echo "$$" >"$S/$name" # a unique "domid"
    sleep 0.3
    # $S/.silent-NAME: this create's guest prints nothing (once), like one crashed at entry
    if [ -e "$S/.silent-$name" ]; then
        rm -f "$S/.silent-$name"
        : >"${DN_CONSOLE_DIR:?}/guest-$name.log"
        exit 0
    fi
    echo "MINIOS-READY boot_us=5" >"${DN_CONSOLE_DIR:?}/guest-$name.log"
    ;;
list)
    echo "Name                                        ID   Mem VCPUs	State	Time(s)"
    echo "Domain-0                                     0   512     2     r-----      10.0"
    for f in "$S"/*; do [ -e "$f" ] || continue; echo "$(basename "$f")   $(cat "$f")   4   1   -b----   0.0"; done
    ;;
info) printf 'total_memory           : 2047\nfree_memory            : %s\n' $((1500 - $(ls "$S" | wc -l) * 4)) ;;
destroy) [ -e "$S/$2" ] || { echo "no such domain $2" >&2; exit 1; }; rm -f "$S/$2" ;;
*) echo "fake xl: $*" >&2; exit 1 ;;
esac

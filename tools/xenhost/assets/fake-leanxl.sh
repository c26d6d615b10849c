#!/bin/sh
# fake leanxl for host tests of density.sh: domains are files in $FAKEXL (shared with fake-xl.sh)
S=${FAKEXL:?}
mkdir -p "$S"
case "$1" in
create)
    [ "$2" = --name ] || { echo "leanxl: error: --name first please (fake)" >&2; exit 2; }
    name=$3
    [ -e "$S/$name" ] && { echo "leanxl: error: create $name: reserve-name failed: exists" >&2; exit 1; }
    echo "$$" >"$S/$name"
    sleep 0.1
    echo "MINIOS-READY boot_us=5" >"${DN_CONSOLE_DIR:?}/guest-$name.log"
    echo "leanxl: created $name domid $$ total_ms 12.50 steps_ms open-xc=0.50,reserve-name=1.00,createdomain=2.00"
    ;;
destroy)
    [ -e "$S/$2" ] || { echo "leanxl: error: no leanxl domain named $2" >&2; exit 1; }
    rm -f "$S/$2"
    echo "leanxl: destroyed $2"
    ;;
*) echo "fake leanxl: $*" >&2; exit 2 ;;
esac

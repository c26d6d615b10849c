#!/bin/sh
# leanxl on the real Xen host (`xenhost spawn --creator leanxl` / `--compare ...,leanxl` run it
# once before measuring): a guest created by leanxl reaches its ready marker in xenconsoled's
# log and shows in `xl list`; its name cannot be taken twice; creates that fail (after the
# domain exists, and before) leave nothing; `leanxl destroy` leaves no domain, no
# /local/domain/<id> and no index entry. One "LEANCHECK ok|FAIL <what>" line per check, then
# "LEANCHECK done". Usage (dom0): sh leancheck.sh [leanxl] [kernel] [marker]
L=${1:-/mnt/host/leanxl}
K=${2:-/mnt/host/density/kernel}
M=${3:-MINIOS-READY}
n=leancheck-$$
log=/var/log/xen/console/guest-$n.log
ok() { echo "LEANCHECK ok $*"; }
bad() { echo "LEANCHECK FAIL $*"; }
listed() { xl list 2>/dev/null | awk -v n="$1" '$1 == n'; }

rm -f "$log"
echo "== $L create --name $n --kernel $K --memory 4"
if out=$("$L" create --name "$n" --kernel "$K" --memory 4 2>&1); then ok "create: $out"; else bad "create: $out"; fi
domid=$(xenstore-read "/tool/leanxl/names/$n" 2>/dev/null)
if [ -n "$domid" ]; then ok "index /tool/leanxl/names/$n = $domid"; else bad "no index entry for $n"; fi
i=0
while [ $i -lt 300 ] && ! grep -q "$M" "$log" 2>/dev/null; do
    sleep 0.1
    i=$((i + 1))
done
if grep -q "$M" "$log" 2>/dev/null; then
    ok "marker in $log: $(grep -m1 "$M" "$log")"
else
    bad "marker $M not in $log after 30 s: $(tail -3 "$log" 2>&1)"
fi
echo "== xl list"
xl list
if [ -n "$(listed "$n")" ]; then ok "xl list: $(listed "$n")"; else bad "xl list does not show $n"; fi
echo "== xenstore-ls -p /local/domain/$domid"
xenstore-ls -p "/local/domain/$domid"
tty=$(xenstore-read "/local/domain/$domid/console/tty" 2>/dev/null)
if [ -n "$tty" ]; then ok "xenconsoled took the console: console/tty = $tty"; else bad "no console/tty from xenconsoled"; fi

# the same name again: refused, the running domain untouched
if out=$("$L" create --name "$n" --kernel "$K" --memory 4 2>&1); then
    bad "a second $n was created: $out"
else
    ok "second create of $n refused: $out"
fi
[ -n "$(listed "$n")" ] || bad "$n is gone after the refused create"

# fails after the domain exists (memory=1: the kernel does not fit): cleaned up
before=$(xl list | wc -l)
if out=$("$L" create --name "$n-small" --kernel "$K" --memory 1 2>&1); then
    bad "memory=1 created: $out"
else
    ok "memory=1 fails: $out"
fi
i=0
while [ $i -lt 100 ] && [ "$(xl list | wc -l)" != "$before" ]; do
    sleep 0.1
    i=$((i + 1))
done
if [ "$(xl list | wc -l)" = "$before" ]; then ok "the failed create left no domain"; else bad "the failed create left a domain: $(xl list | tail -n +2)"; fi
if xenstore-read "/tool/leanxl/names/$n-small" >/dev/null 2>&1; then bad "its index entry is left"; else ok "no index entry left by it"; fi
# fails before (no kernel file): the step is named, nothing left
if out=$("$L" create --name "$n-nokernel" --kernel /nonexistent --memory 4 2>&1); then
    bad "created without a kernel: $out"
else
    ok "missing kernel: $out"
fi
if xenstore-read "/tool/leanxl/names/$n-nokernel" >/dev/null 2>&1; then bad "its index entry is left"; else ok "no index entry left by it"; fi

echo "== $L destroy $n"
if out=$("$L" destroy "$n" 2>&1); then ok "destroy: $out"; else bad "destroy: $out"; fi
i=0
while [ $i -lt 200 ] && xl list 2>/dev/null | awk -v d="$domid" '$2 == d' | grep -q .; do
    sleep 0.1
    i=$((i + 1))
done
echo "== after destroy: xl list"
xl list
if xl list | awk -v d="$domid" '$2 == d' | grep -q .; then bad "domain $domid still listed after 20 s: $(xl list | awk -v d="$domid" '$2 == d')"; else ok "domain $domid gone from xl list"; fi
echo "== xenstore-ls /local/domain (top level)"
xenstore-ls /local/domain | grep -v '^ '
if xenstore-ls /local/domain | grep -q "^$domid = "; then bad "/local/domain/$domid is left"; else ok "/local/domain/$domid removed"; fi
echo "== xenstore-ls /tool"
xenstore-ls /tool
if xenstore-ls /tool 2>/dev/null | grep -q "leancheck-$$"; then bad "index entries of $n left"; else ok "no index entry of $n left"; fi
echo "LEANCHECK done"

# xenhost's dom0 side, sourced by job.sh. Both are written into the host share by xenhost for
# every run, so changing them never requires rebuilding the image. POSIX sh (dash in dom0).
#
# Protocol with the host (files in the share, which the host polls):
#   ready                dom0 is up and the toolstack is running
#   <dir>/started        this item began
#   <dir>/result         key=value facts about it (written last but one)
#   <dir>/done           this item is finished
#   done                 the whole job is finished; dom0 powers off next
# Lines starting with "XENHOST:" and "[<domain>] " go to the console (and so to the serial log
# the host streams).

XH=/mnt/host
xh_ms() { date +%s%3N; }
xh_say() { echo "XENHOST: $*"; }

xh_ready() {
    xh_ms >"$XH/ready"
    xh_say "dom0 ready"
}

xh_done() {
    sync
    : >"$XH/done"
    xh_say "job done"
}

# xh_exec <dir> <shell command>: runs a command in dom0; output to <dir>/output and the console.
xh_exec() {
    d="$XH/$1"
    : >"$d/started"
    xh_say "exec: $2"
    sh -c "$2" >"$d/output" 2>&1
    echo "rc=$?" >"$d/result"
    : >"$d/done"
}

# Waits until a file stops growing (xenconsoled may lag behind the domain's death): three equal
# sizes 0.2 s apart, at most ~4 s.
xh_settle() {
    last=-1 same=0 n=0
    while [ "$n" -lt 20 ] && [ "$same" -lt 2 ]; do
        size=$(stat -c %s "$1" 2>/dev/null || echo 0)
        if [ "$size" = "$last" ]; then same=$((same + 1)); else same=0; fi
        last=$size
        n=$((n + 1))
        sleep 0.2
    done
}

# xh_case <dir> <domain> <timeout-secs> [marker]: runs one guest with `xl create -F` under
# timeout(1); streams its console (xenconsoled's log) to dom0's console, records when the
# marker appeared, how xl said the domain ended, the console and this case's `xl dmesg`.
xh_case() {
    d="$XH/$1" dom=$2 tmo=$3 marker=$4
    clog=/var/log/xen/console/guest-$dom.log
    fifo=/tmp/xh-console-$1
    rm -f "$clog" "$fifo" "$d/marker_ms"
    : >"$clog"
    mkfifo "$fifo"
    xl dmesg -c >/dev/null 2>&1
    : >"$d/started"
    xh_say "case $1: xl create $dom (timeout ${tmo}s)"
    t0=$(xh_ms)
    tail -n +1 -F "$clog" 2>/dev/null >"$fifo" &
    tailpid=$!
    (
        while IFS= read -r line; do
            printf '[%s] %s\n' "$dom" "$line"
            if [ -n "$marker" ] && [ ! -e "$d/marker_ms" ]; then
                case "$line" in *"$marker"*) echo $(($(xh_ms) - t0)) >"$d/marker_ms" ;; esac
            fi
        done <"$fifo"
    ) &
    readerpid=$!
    {
        timeout -k 5 "$tmo" xl create -F "$d/guest.cfg" 2>&1
        echo "XENHOST-XL-RC $?"
    } | while IFS= read -r l; do echo "$(($(xh_ms) - t0)) $l"; done >"$d/xl.log"
    run_ms=$(($(xh_ms) - t0))
    xl_rc=$(sed -n 's/^[0-9]* XENHOST-XL-RC //p' "$d/xl.log")
    xh_settle "$clog"
    preserved=0
    if xl domid "$dom" >/dev/null 2>&1; then
        # a preserved crash or a guest that outlived its timeout: record its state, destroy it
        preserved=1
        xl list "$dom" >"$d/xl-list.txt" 2>&1
        # registers and stack of every vCPU (symbolised if the host left a System.map)
        symtab=""
        [ -s "$d/System.map" ] && symtab="-s $d/System.map"
        # shellcheck disable=SC2086
        timeout 20 /usr/lib/xen-4.17/bin/xenctx -a -C -S -k 0 $symtab "$(xl domid "$dom")" \
            >"$d/xenctx.txt" 2>&1
        xl dmesg >"$d/dmesg.log" 2>&1
        xl destroy "$dom" >>"$d/xl-list.txt" 2>&1
    else
        xl dmesg >"$d/dmesg.log" 2>&1
    fi
    kill "$tailpid" 2>/dev/null
    wait "$readerpid" 2>/dev/null
    rm -f "$fifo"
    cp "$clog" "$d/console.log"
    {
        echo "domain=$dom"
        echo "xl_rc=$xl_rc"
        echo "run_ms=$run_ms"
        echo "preserved=$preserved"
    } >"$d/result"
    sync
    : >"$d/done"
    grep -E 'shut down|XENHOST-XL-RC|error' "$d/xl.log" | sed "s/^/XENHOST: [$dom] xl: /"
}

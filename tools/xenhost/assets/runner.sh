# xenhost's dom0 side, sourced by job.sh. Both are written into the host share by xenhost for
# every run, so changing them never requires rebuilding the image. POSIX sh (dash in dom0).
#
# Protocol with the host (files in the share, which the host polls):
#   ready                dom0 is up and the toolstack is running
#   <dir>/started        this item began
#   <dir>/result         key=value facts about it (written last but one)
#   <dir>/done           this item is finished
#   done                 the whole job is finished; dom0 powers off next
# Per case, dom0 commands (written by the host, see xh_case):
#   <dir>/dom0-<i>.run, .marker, .timeout     run <i> when <marker> first appears on the console
#   <dir>/after-<i>.run, .timeout             run <i> after the guest has shut down
#   <dir>/before-<i>.run, .timeout            run <i> before `xl create` ($DOMID empty)
#   <dir>/<p>.cmd, .out, .result              what ran ($DOMID, $NAME replaced), its output,
#                                             seen_ms/ran/start_ms/end_ms/status/domid
# Lines starting with "XENHOST:" and "[<domain>] " go to the console (and so to the serial log
# the host streams).

XH=${XH:-/mnt/host}
# Milliseconds since dom0 booted, from /proc/uptime with shell builtins only: the runner's
# timestamps must not fork `date`, which was seen to segfault and to return nothing in this
# emulated dom0 (and a stuck `$(date)` in xl's output loop would stall the whole run).
xh_ms() {
    read -r xm_up _ </proc/uptime
    xm_frac=${xm_up#*.}
    echo $((${xm_up%.*} * 1000 + (1$xm_frac - 100) * 10))
}
xh_say() { echo "XENHOST: $*"; }

# ---- dom0 network for guests with a vif ------------------------------------------------
# Bridge xenbr0 with 10.0.0.1/24 (guests' vifs join it through libxl's vif-bridge script,
# `vif = [ "bridge=xenbr0,..." ]`) and a DHCP server on it (busybox udhcpd, leases
# 10.0.0.100-199; static guest addresses stay below .100). Once per host boot, before the
# first case; a failure is reported on the console but does not stop guests without a vif.
XH_BRIDGE=xenbr0
XH_BRIDGE_ADDR=10.0.0.1/24
xh_net_setup() {
    if ! ip link show "$XH_BRIDGE" >/dev/null 2>&1; then
        ip link add "$XH_BRIDGE" type bridge &&
            ip addr add "$XH_BRIDGE_ADDR" dev "$XH_BRIDGE" &&
            ip link set "$XH_BRIDGE" up ||
            xh_say "network: cannot set up bridge $XH_BRIDGE"
        # forward delay 0: a vif forwards at once when it joins
        echo 0 >/sys/class/net/$XH_BRIDGE/bridge/forward_delay 2>/dev/null
    fi
    mkdir -p /var/lib/misc /run/udhcpd
    : >/var/lib/misc/udhcpd.leases
    cat >/run/udhcpd/xenbr0.conf <<EOF_UDHCPD
start 10.0.0.100
end 10.0.0.199
interface $XH_BRIDGE
lease_file /var/lib/misc/udhcpd.leases
pidfile /run/udhcpd/xenbr0.pid
option subnet 255.255.255.0
option router 10.0.0.1
option lease 3600
EOF_UDHCPD
    if [ ! -e /run/udhcpd/xenbr0.pid ]; then
        busybox udhcpd -S /run/udhcpd/xenbr0.conf || xh_say "network: udhcpd did not start"
    fi
    xh_say "network: $XH_BRIDGE $XH_BRIDGE_ADDR up, DHCP 10.0.0.100-199"
}

# xh_watchdog: every 20 s, dom0's processes (state, wait channel) and the kernel stacks of
# those in D state or running xl, into $XH/dom0-ps.txt. A host that stalls (README, known
# issues) leaves this evidence of what dom0 was doing; xenhost prints it on a host failure.
xh_watchdog() {
    exec 3>&1 # the console: the snapshot itself goes to a file
    while :; do
        {
            read -r up _ </proc/uptime
            echo "dom0 uptime $up s; load $(cat /proc/loadavg)"
            ps -eo pid,ppid,stat,etimes,wchan:28,args --sort=pid
            for p in /proc/[0-9]*; do
                xh_watch_proc "$p"
            done
        } >"$XH/dom0-ps.tmp" 2>&1
        mv -f "$XH/dom0-ps.tmp" "$XH/dom0-ps.txt"
        sleep 20
    done
}

# xh_watch_proc </proc/PID>: the watchdog's look at one process: the kernel stack of one in
# D state or running xl; the facts of a user process seen running, reaped if it is a stuck
# short-lived utility; a short `sleep` (under 30 s) in any state reaped when too old.
xh_watch_proc() {
    read -r _ c st _ <"$1/stat" 2>/dev/null || return 0
    case "$st $c" in
    D* | *"(xl)"*)
        echo "--- ${1#/proc/} $c $st stack:"
        cat "$1/stack" 2>/dev/null
        ;;
    R*)
        # a user process (kernel threads have no exe) seen running
        [ -e "$1/exe" ] || return 0
        xh_proc_facts "$1"
        xh_reap_spinner "$1" "$c"
        ;;
    *"(sleep)")
        # a short sleep still there after 60 s is stuck too (seen: `sleep 0.05` in
        # futex_wait_queue for 249 s, its density worker waiting on it)
        xs_arg=$(tr '\0' ' ' <"$1/cmdline" 2>/dev/null)
        xs_arg=${xs_arg#* }
        xs_arg=${xs_arg%% *}
        case "$xs_arg" in
        0.* | [0-9] | [1-2][0-9])
            xh_proc_facts "$1"
            xh_reap_spinner "$1" "$c"
            ;;
        esac
        ;;
    esac
    return 0
}

# xh_proc_facts </proc/PID>: its fault counts and CPU ticks (stat fields 10-15) and its
# syscall state, so that two samples tell a process spinning in a page-fault loop (minflt and
# stime growing) from one looping in user code (utime growing).
xh_proc_facts() {
    read -r _ xf_c xf_st _ _ _ _ _ _ xf_min _ xf_maj _ xf_ut xf_st2 _ <"$1/stat" 2>/dev/null \
        || return
    echo "--- ${1#/proc/} $xf_c $xf_st minflt=$xf_min majflt=$xf_maj utime=$xf_ut stime=$xf_st2 syscall=$(cat "$1/syscall" 2>/dev/null)"
}

# xh_reap_spinner </proc/PID> <(comm)>: a short-lived utility (sleep, wc, date, ...) found
# running (or a sleep of under 30 s found at all) after more than 60 s is not doing its job:
# seen here under TCG, `sleep 0.05` and `wc -l` spinning in state R for minutes after a libc
# #GP in dom0, and the density script waiting on them forever. Two samples of its facts a second apart (the evidence), then
# SIGKILL, so the script goes on; each one is logged in dom0-reaped.txt and on the console.
xh_reap_spinner() {
    case "$2" in
    "(sleep)" | "(wc)" | "(date)" | "(cat)" | "(sed)" | "(grep)" | "(awk)" | "(mawk)" | \
        "(head)" | "(cut)" | "(tr)" | "(expr)" | "(stat)") ;;
    *) return ;;
    esac
    xr_age=$(ps -o etimes= -p "${1#/proc/}" 2>/dev/null) || return
    xr_age=${xr_age##* }
    [ -n "$xr_age" ] && [ "$xr_age" -gt "${XH_SPIN_SECS:-60}" ] || return
    {
        echo "dom0 uptime $(cut -d' ' -f1 /proc/uptime) s: killing ${1#/proc/} $2, running for ${xr_age} s"
        xh_proc_facts "$1"
        sleep 1
        xh_proc_facts "$1"
        echo "cmdline: $(tr '\0' ' ' <"$1/cmdline" 2>/dev/null)"
        echo "maps (first 12):"
        head -n 12 "$1/maps" 2>/dev/null
    } >>"$XH/dom0-reaped.txt" 2>&1
    kill -9 "${1#/proc/}" 2>/dev/null
    echo "XENHOST: WARNING: dom0 process ${1#/proc/} $2 was alive for ${xr_age} s (a short-lived utility stuck or spinning: dom0 userspace broken under TCG?); killed it, evidence in dom0-reaped.txt" >&3
}

xh_ready() {
    xh_watchdog &
    xh_net_setup
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

# ---- dom0 commands of a case --------------------------------------------------------------
# The path from a console marker to its command forks nothing but timeout(1) and sh: the
# guest may power off right after printing the marker (forks are slow in a TCG dom0).

# xh_now: sets xh_now_ms, ms since dom0 booted, from /proc/uptime (no fork; 10 ms steps).
xh_now() {
    read -r xn_up _ </proc/uptime
    xn_frac=${xn_up#*.}
    xh_now_ms=$((${xn_up%.*} * 1000 + (1$xn_frac - 100) * 10))
}

# xh_subst <text> <var> <value>: sets xs_out to <text> with $<var> and ${<var>} replaced by
# <value> ($<var>X, another variable, is kept). Builtins only.
xh_subst() {
    xs_in=$1 xs_out=
    while :; do
        case "$xs_in" in
        *\$*) ;;
        *) break ;;
        esac
        xs_out=$xs_out${xs_in%%\$*}
        xs_in=${xs_in#*\$}
        case "$xs_in" in
        "{$2}"*)
            xs_out=$xs_out$3
            xs_in=${xs_in#"{$2}"}
            ;;
        "$2"[A-Za-z0-9_]*) xs_out=$xs_out\$ ;;
        "$2"*)
            xs_out=$xs_out$3
            xs_in=${xs_in#"$2"}
            ;;
        *) xs_out=$xs_out\$ ;;
        esac
    done
    xs_out=$xs_out$xs_in
}

# xh_logdomid <case dir>: sets xh_id to the domain's id from xl create's "<ms> Waiting for
# domain <name> (domid N) to die" line in <case dir>/xl.log (empty if not there yet).
# Builtins only.
xh_logdomid() {
    xh_id=
    [ -r "$1/xl.log" ] || return 0
    while IFS= read -r xd_line; do
        case "$xd_line" in
        *" Waiting for domain "*"(domid "*")"*)
            xh_id=${xd_line##*"(domid "}
            xh_id=${xh_id%%")"*}
            return 0
            ;;
        esac
    done <"$1/xl.log"
}

# xh_domid <case dir> <domain> <wait-secs>: sets xh_id to the domain's id, from xl.log
# (xh_logdomid) or else `xl domid`; retries for up to wait-secs (a marker can reach the
# console before xl has printed that line).
xh_domid() {
    xd_n=$(($3 * 10))
    while :; do
        xh_logdomid "$1"
        [ -n "$xh_id" ] || xh_id=$(xl domid "$2" 2>/dev/null </dev/null)
        if [ -n "$xh_id" ] || [ "$xd_n" -le 0 ]; then
            return 0
        fi
        xd_n=$((xd_n - 1))
        sleep 0.1
    done
}

# xh_dom0_run <case dir> <prefix> <domain> <domid> <t0> <command> <timeout-secs> [seen-ms]:
# runs <command> with sh under timeout(1) in <case dir>, $DOMID/${DOMID} and $NAME/${NAME}
# replaced (DOMID, NAME, CASE_DIR also in its environment); <t0> is the xh_now time of
# `xl create`. Leaves <prefix>.out, .cmd (as run) and .result.
xh_dom0_run() {
    rd=$1 rp=$2 rdom=$3 rid=$4 rt0=$5 rtmo=$7 rseen=$8
    xh_subst "$6" DOMID "$rid"
    xh_subst "$xs_out" NAME "$rdom"
    rrun=$xs_out
    cd "$rd" || return
    xh_now
    rstart=$((xh_now_ms - rt0))
    DOMID=$rid NAME=$rdom CASE_DIR=$rd timeout -k 5 "$rtmo" sh -c "$rrun" \
        </dev/null >"$rd/$rp.out" 2>&1
    rrc=$?
    xh_now
    rend=$((xh_now_ms - rt0))
    cd /
    printf '%s\n' "$rrun" >"$rd/$rp.cmd"
    {
        [ -n "$rseen" ] && echo "seen_ms=$rseen"
        echo "ran=1"
        echo "domid=$rid"
        echo "start_ms=$rstart"
        echo "end_ms=$rend"
        echo "status=$rrc"
    } >"$rd/$rp.result"
    # builtins only: the next command may be waiting
    xh_say "$rp ($rdom) at $rstart ms, exit $rrc after $((rend - rstart)) ms: $rrun"
}

# xh_dom0_watch <case dir> <domain> <t0> <count>: reads the guest console on stdin and runs
# dom0-1 .. dom0-<count> in that order, each once, as soon as its marker has appeared (a
# command waits for the ones before it); those that never ran get ran=0. Stops reading once
# all have run. <t0>: the xh_now time of `xl create`.
xh_dom0_watch() {
    wd=$1 wdom=$2 wt0=$3 wn=$4 wm='' ws=''
    j=1
    while [ "$j" -le "$wn" ]; do
        eval "xw_m$j=\$(cat \"\$wd/dom0-$j.marker\")"
        eval "xw_r$j=\$(cat \"\$wd/dom0-$j.run\")"
        eval "xw_t$j=\$(cat \"\$wd/dom0-$j.timeout\")"
        eval "xw_s$j="
        j=$((j + 1))
    done
    next=1 wid=
    while [ "$next" -le "$wn" ] && { IFS= read -r line || [ -n "$line" ]; }; do
        if [ -z "$wid" ]; then
            # the guest is up: its id now, before any marker (off the marker's path)
            xh_logdomid "$wd"
            wid=$xh_id
        fi
        j=$next
        while [ "$j" -le "$wn" ]; do
            eval "wm=\$xw_m$j ws=\$xw_s$j"
            if [ -z "$ws" ]; then
                case "$line" in
                *"$wm"*)
                    xh_now
                    eval "xw_s$j=$((xh_now_ms - wt0))"
                    ;;
                esac
            fi
            j=$((j + 1))
        done
        while [ "$next" -le "$wn" ] && eval "[ -n \"\$xw_s$next\" ]"; do
            if [ -z "$wid" ]; then
                xh_domid "$wd" "$wdom" 5
                wid=$xh_id
            fi
            eval "xh_dom0_run \"\$wd\" dom0-$next \"\$wdom\" \"\$wid\" \"\$wt0\" \
                \"\$xw_r$next\" \"\$xw_t$next\" \"\$xw_s$next\""
            next=$((next + 1))
        done
        line=
    done
    while [ "$next" -le "$wn" ]; do
        eval "ws=\$xw_s$next wm=\$xw_m$next"
        {
            [ -n "$ws" ] && echo "seen_ms=$ws"
            echo "ran=0"
        } >"$wd/dom0-$next.result"
        xh_say "dom0-$next ($wdom): never ran (marker: $wm)"
        next=$((next + 1))
    done
}

# xh_dom0_after <case dir> <domain> <t0>: runs after-1, after-2, ... (the guest is gone).
xh_dom0_after() {
    xa_i=1
    [ -e "$1/after-1.run" ] && xh_domid "$1" "$2" 0
    while [ -e "$1/after-$xa_i.run" ]; do
        xh_dom0_run "$1" "after-$xa_i" "$2" "$xh_id" "$3" "$(cat "$1/after-$xa_i.run")" \
            "$(cat "$1/after-$xa_i.timeout")"
        xa_i=$((xa_i + 1))
    done
}

# xh_dom0_before <case dir> <domain> <t0>: runs before-1, before-2, ... (no domain yet).
xh_dom0_before() {
    xb_i=1
    while [ -e "$1/before-$xb_i.run" ]; do
        xh_dom0_run "$1" "before-$xb_i" "$2" "" "$3" "$(cat "$1/before-$xb_i.run")" \
            "$(cat "$1/before-$xb_i.timeout")"
        xb_i=$((xb_i + 1))
    done
}

# xh_dom0_crashed <case dir>: true if one of this attempt's dom0 commands (before-N, dom0-N,
# after-N) was killed by SIGABRT/SIGSEGV (status 134/139) or printed glibc's abort messages or
# the shell's report of a crashed child (the command itself may still exit 0: `xl ... && echo`).
xh_dom0_crashed() {
    for f in "$1"/before-*.result "$1"/dom0-*.result "$1"/after-*.result; do
        [ -e "$f" ] || continue
        case "$(sed -n 's/^status=//p' "$f")" in 134 | 139) return 0 ;; esac
    done
    cat "$1"/before-*.out "$1"/dom0-*.out "$1"/after-*.out 2>/dev/null | grep -qE \
        '^(malloc|free|realloc|malloc_consolidate|munmap_chunk|_int_malloc|_int_free|tcache_thread_shutdown)\(\): |double free or corruption|^corrupted (size vs\. prev_size|double-linked list)|^(Aborted|Segmentation fault)( \(core dumped\))?$|: Assertion .* failed\.$'
}

# True if the case's domain ended in a reboot that Xen logged as the triple fault of an HVM/PVH
# vCPU (`d<domid>v<n> Triple fault`), not a reboot the guest asked for ($1 case dir).
xh_triple_fault() {
    grep -q 'has shut down, reason code 1 ' "$1/xl.log" || return 1
    id=$(sed -n 's/.*(domid \([0-9]*\)).*/\1/p' "$1/xl.log" | head -n 1)
    [ -n "$id" ] && grep -q "d${id}v[0-9]* Triple fault" "$1/dmesg.log" 2>/dev/null || return 1
}

# Records the vCPU state of a domain that is still there ($1 case dir, $2 domain name):
# registers and stack of every vCPU (xenctx, symbolised if the host left a System.map) and,
# for an HVM/PVH domain, Xen's saved hardware context (xen-hvmctx: segment and descriptor
# table registers, the event being delivered, the local APIC).
xh_record_vcpus() {
    domid=$(xl domid "$2")
    symtab=""
    [ -s "$1/System.map" ] && symtab="-s $1/System.map"
    # shellcheck disable=SC2086
    timeout 20 /usr/lib/xen-4.17/bin/xenctx -a -C -S -k 0 $symtab "$domid" \
        >"$1/xenctx.txt" 2>&1
    if grep -q '^type *= *"pvh"' "$1/guest.cfg" 2>/dev/null; then
        timeout 20 /usr/lib/xen-4.17/bin/xen-hvmctx "$domid" >"$1/hvmctx.txt" 2>&1
    fi
}

# xh_case <dir> <domain> <timeout-secs> [marker]: xh_case_once, retried ONCE if dom0's own
# toolstack crashed: `xl create -F` died without saying how the domain ended, or a dom0
# command of the case died of SIGABRT/SIGSEGV or printed glibc's abort (seen here: glibc's
# "malloc(): unsorted double linked list corrupted" abort of xl create, and of xl
# network-attach, in dom0 userspace during long runs under TCG, never a guest failure), or if
# Xen logged a triple fault of the case's PVH domain (QEMU's emulated SVM now and then). The
# retry is announced on the console and recorded in `result` (retried_after=<reason>), which
# the host prints with the case's verdict; the first attempt's files are kept in
# first-attempt/. A guest that really fails fails both times.
xh_case() {
    # The host judges a case as soon as its `done` file appears: the first attempt must not
    # create it, only the attempt that counts.
    XH_DEFER_DONE=1
    xh_case_once "$@"
    XH_DEFER_DONE=
    d="$XH/$1"
    rc=$(sed -n 's/^[0-9-]* XENHOST-XL-RC //p' "$d/xl.log")
    why=""
    # no "has shut down" line, and xl either vanished (no status at all) or died of
    # SIGABRT/SIGSEGV: xl itself crashed. A timeout (124) or a refused config (e.g. 3) is not.
    if ! grep -q 'has shut down, reason code' "$d/xl.log" \
        && { [ -z "$rc" ] || [ "$rc" = 134 ] || [ "$rc" = 139 ]; }; then
        why="xl-create-crash"
        xh_say "[$2] xl create -F ended without reporting the domain's end (dom0 toolstack crash?): retrying this case once"
    elif xh_dom0_crashed "$d"; then
        why="dom0-command-crash"
        xh_say "[$2] a dom0 command of this case crashed (SIGABRT/SIGSEGV or glibc abort: dom0 toolstack crash): retrying this case once"
    elif grep -q '^triple_fault=1$' "$d/result" 2>/dev/null; then
        # xh_case_once recorded that Xen logged a triple fault of this domain
        why="pvh-triple-fault"
        xh_say "[$2] Xen reported a triple fault of this PVH guest (seen now and then under QEMU's emulated SVM; its vCPU record is in first-attempt/hvmctx.txt): retrying this case once"
    fi
    if [ -n "$why" ]; then
        xl destroy "$2" >/dev/null 2>&1
        rm -rf "$d/first-attempt"
        mkdir -p "$d/first-attempt"
        for f in "$d"/xl.log "$d"/console.log "$d"/result "$d"/*.out "$d"/*.result \
            "$d"/xenctx.txt "$d"/hvmctx.txt "$d"/dmesg.log; do
            [ -e "$f" ] && mv "$f" "$d/first-attempt/"
        done
        xh_case_once_retry=$why
        xh_case_once "$@"
        unset xh_case_once_retry
    else
        sync
        : >"$d/done"
    fi
}

# xh_case_once <dir> <domain> <timeout-secs> [marker]: runs one guest with `xl create -F` under
# timeout(1); streams its console (xenconsoled's log) to dom0's console, records when the
# marker appeared, how xl said the domain ended, the console and this case's `xl dmesg`.
xh_case_once() {
    d="$XH/$1" dom=$2 tmo=$3 marker=$4
    clog=/var/log/xen/console/guest-$dom.log
    fifo=/tmp/xh-console-$1
    rm -f "$clog" "$fifo" "$d/marker_ms" "$d"/dom0-*.result "$d"/after-*.result \
        "$d"/before-*.result
    : >"$clog"
    mkfifo "$fifo"
    ndom0=0
    while [ -e "$d/dom0-$((ndom0 + 1)).run" ]; do ndom0=$((ndom0 + 1)); done
    : >"$d/started"
    xh_now
    xh_dom0_before "$d" "$dom" "$xh_now_ms"
    xl dmesg -c >/dev/null 2>&1
    xh_say "case $1: xl create $dom (timeout ${tmo}s)"
    t0=$(xh_ms)
    xh_now
    t0_up=$xh_now_ms
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
    watchpid=""
    if [ "$ndom0" -gt 0 ]; then
        # dom0 commands on console markers: a second follower of the console log
        wfifo=/tmp/xh-dom0-$1
        rm -f "$wfifo"
        mkfifo "$wfifo"
        tail -n +1 -F "$clog" 2>/dev/null >"$wfifo" &
        wtailpid=$!
        xh_dom0_watch "$d" "$dom" "$t0_up" "$ndom0" <"$wfifo" &
        watchpid=$!
    fi
    {
        timeout -k 5 "$tmo" xl create -F "$d/guest.cfg" 2>&1
        echo "XENHOST-XL-RC $?"
    } | while IFS= read -r l; do echo "$(($(xh_ms) - t0)) $l"; done >"$d/xl.log"
    run_ms=$(($(xh_ms) - t0))
    xl_rc=$(sed -n 's/^[0-9]* XENHOST-XL-RC //p' "$d/xl.log")
    xh_settle "$clog"
    if [ -n "$watchpid" ]; then
        # the watcher sees the rest of the console, finishes (commands have their own
        # timeouts) and marks what never ran; a preserved domain is still there meanwhile
        kill "$wtailpid" 2>/dev/null
        wait "$watchpid" 2>/dev/null
        rm -f "$wfifo"
    fi
    preserved=0
    if xl domid "$dom" >/dev/null 2>&1 \
        && grep -q 'has shut down, reason code 0 ' "$d/xl.log"; then
        # held after poweroff (on_poweroff="preserve") for dom0 commands, which are done now
        xl destroy "$dom" >"$d/xl-list.txt" 2>&1
    elif xl domid "$dom" >/dev/null 2>&1 \
        && grep -q 'has shut down, reason code 1 ' "$d/xl.log"; then
        # a reboot (always preserved): a guest's own reboot, or a PVH guest's triple fault,
        # which Xen turns into a reboot; the vCPU state says which, and where
        xh_record_vcpus "$d" "$dom"
        xl dmesg >"$d/dmesg.log" 2>&1
        xl destroy "$dom" >"$d/xl-list.txt" 2>&1
    elif xl domid "$dom" >/dev/null 2>&1; then
        # a preserved crash or a guest that outlived its timeout: record its state, destroy it
        preserved=1
        xl list "$dom" >"$d/xl-list.txt" 2>&1
        xh_record_vcpus "$d" "$dom"
        xl dmesg >"$d/dmesg.log" 2>&1
        xl destroy "$dom" >>"$d/xl-list.txt" 2>&1
    else
        xl dmesg >"$d/dmesg.log" 2>&1
    fi
    kill "$tailpid" 2>/dev/null
    wait "$readerpid" 2>/dev/null
    rm -f "$fifo"
    cp "$clog" "$d/console.log"
    xh_dom0_after "$d" "$dom" "$t0_up"
    {
        echo "domain=$dom"
        echo "xl_rc=$xl_rc"
        echo "run_ms=$run_ms"
        echo "preserved=$preserved"
        if xh_triple_fault "$d"; then echo "triple_fault=1"; fi
        if [ -n "${xh_case_once_retry:-}" ]; then echo "retried_after=$xh_case_once_retry"; fi
    } >"$d/result"
    sync
    if [ -z "${XH_DEFER_DONE:-}" ]; then : >"$d/done"; fi
    grep -E 'shut down|XENHOST-XL-RC|error' "$d/xl.log" | sed "s/^/XENHOST: [$dom] xl: /"
}

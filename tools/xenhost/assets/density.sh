#!/bin/sh
# xenhost's dom0 side of density runs (`xenhost spawn`): mass creation of tiny guests with the
# real toolstack (`xl`), per-instance records, resume, exact teardown, probes of where the
# per-create time goes. Written into the share for every run (never baked into the image).
# POSIX sh (dash in dom0). Usage (dom0):
#
#   sh density.sh plan <dir>            run every line of <dir>/plan (what `xenhost spawn` does)
#   sh density.sh spawn <dir> <run> <from> <to>     create instances <from>..<to> of <run>
#   sh density.sh resume <dir> <run>    create what <run> is missing (after an interruption)
#   sh density.sh teardown <dir> <run>  destroy exactly the instances <run> created
#
# <dir>/<run>/params (sh assignments, written by the host) describes a run:
#   DN_PREFIX   instance names are <DN_PREFIX>-<i>, i = 1..DN_COUNT (the prefix is unique to
#               the run: teardown destroys exactly these names)
#   DN_COUNT DN_WORKERS DN_TEARDOWN_WORKERS DN_MEMORY DN_VCPUS DN_KERNEL DN_MARKER DN_READY_TIMEOUT
#   DN_VIF (0/1) DN_BRIDGES (vifs spread over dnbr0..dnbr<K-1>) DN_VIF_SCRIPT (empty: Xen's
#   vif-bridge; else the hotplug script's path, e.g. vif-lean) DN_XL_FLAGS (e.g. -e)
#   DN_CREATOR  xl (default) or leanxl: create and destroy with `xl` or with $DN_LEANXL
#               (tools/leanxl: libxenctrl/libxenguest/libxenstore directly, no libxl)
# Records (all in <dir>/<run>/, times in ms since dom0 booted, 10 ms steps):
#   rec.w<k>        per instance, one CSV line by worker k:
#                   i,name,status,start_ms,create_ms,ready_ms,xl_rc,error
#                   status: ok | create-failed | not-ready | destroyed-partial (resume)
#   samples         every few seconds: dom0 and daemon CPU/memory (header line first)
#   xl-list-*.txt, xl-info-*.txt, daemons-*.txt   snapshots after each phase
#   probe-<n>.txt   one timed `xl -vvv create` (or `leanxl create`) + destroy with <n> running
#   steps.w<k>      leanxl only: per instance, <i>,<leanxl's "created" line> (per-step times)
# Nothing here prints per instance on dom0's console (it would cost more than the guest).

XH=${XH:-/mnt/host}
CFGROOT=${DN_CFGROOT:-/run/density}
CONSDIR=${DN_CONSOLE_DIR:-/var/log/xen/console}

# dn_now: sets now_ms (ms since dom0 booted) from /proc/uptime, builtins only.
dn_now() {
    read -r dn_up _ </proc/uptime
    dn_frac=${dn_up#*.}
    now_ms=$((${dn_up%.*} * 1000 + (1$dn_frac - 100) * 10))
}

dn_say() { echo "XENHOST: density: $*"; }
# dn_tick <what>: a line in $D/progress for every step done (an instance created or destroyed,
# a plan line); the host gives up on a run whose progress file stops growing (a dom0 stall).
dn_tick() { echo "$*" >>"$D/progress"; }

dn_load() { # <dir> <run>
    D=$1 RUN=$2 R=$1/$2
    [ -r "$R/params" ] || {
        dn_say "no $R/params"
        return 1
    }
    . "$R/params"
    CFGDIR=$CFGROOT/$RUN
    mkdir -p "$CFGDIR"
}

dn_pid_of() { # <name>: pid of a daemon by its exact command name (empty if none);
    # "xenstored" also finds oxenstored (the OCaml one)
    for p in /proc/[0-9]*; do
        read -r c 2>/dev/null <"$p/comm" || continue
        if [ "$c" = "$1" ] || [ "o$1" = "$c" ]; then
            echo "${p#/proc/}"
            return
        fi
    done
}

dn_daemon() { # <pid>: sets d_cpu (utime+stime, clock ticks), d_rss (kB), d_fds; few forks
    d_cpu=- d_rss=- d_fds=-
    [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 0
    read -r st <"/proc/$1/stat"
    st=${st##*) } # past the command name
    # shellcheck disable=SC2086
    set -- "$1" $st
    dpid=$1
    shift 12
    d_cpu=$(($1 + $2))
    while read -r k v _; do
        if [ "$k" = "VmRSS:" ]; then d_rss=$v; fi
    done <"/proc/$dpid/status"
    d_fds=$(ls "/proc/$dpid/fd" 2>/dev/null | wc -l)
}

dn_meminfo() { # sets memfree_kb (dom0 MemAvailable)
    memfree_kb=-
    while read -r k v _; do
        if [ "$k" = "MemAvailable:" ]; then memfree_kb=$v; fi
    done </proc/meminfo
}

dn_procstat() { # sets cpu_user cpu_sys cpu_idle cpu_steal (all dom0 vCPUs, ticks)
    read -r _ u n s i w q sq st _ </proc/stat
    cpu_user=$((u + n)) cpu_sys=$((s + q + sq)) cpu_idle=$((i + w)) cpu_steal=$st
}

# One line of daemon facts: xenstored and xenconsoled CPU ticks, RSS (kB), open fds.
dn_daemons_line() {
    dn_daemon "$(dn_pid_of xenstored)"
    xs="$d_cpu,$d_rss,$d_fds"
    dn_daemon "$(dn_pid_of xenconsoled)"
    xc="$d_cpu,$d_rss,$d_fds"
    dn_meminfo
    dn_procstat
    echo "$xs,$xc,$memfree_kb,$cpu_user,$cpu_sys,$cpu_idle,$cpu_steal"
}
DN_DAEMONS_HEADER="xs_cpu_ticks,xs_rss_kb,xs_fds,xc_cpu_ticks,xc_rss_kb,xc_fds,dom0_avail_kb,cpu_user,cpu_sys,cpu_idle,cpu_steal"

# dn_sampler <stopfile>: every DN_SAMPLE_SECS, a line in $R/samples until <stopfile> exists.
dn_sampler() {
    [ -s "$R/samples" ] || echo "t_ms,records,xl_procs,$DN_DAEMONS_HEADER" >"$R/samples"
    while [ ! -e "$1" ]; do
        dn_now
        t=$now_ms
        n=$(cat "$R"/rec.w* 2>/dev/null | wc -l)
        x=0
        for p in /proc/[0-9]*; do
            read -r c 2>/dev/null <"$p/comm" || continue
            [ "$c" = xl ] && x=$((x + 1))
        done
        echo "$t,$n,$x,$(dn_daemons_line)" >>"$R/samples"
        sleep "${DN_SAMPLE_SECS:-5}"
    done
}

dn_snapshot() { # <tag>: xl list, xl info, daemon facts after a phase
    xl list >"$R/xl-list-$1.txt" 2>&1
    xl info >"$R/xl-info-$1.txt" 2>&1
    {
        echo "$DN_DAEMONS_HEADER"
        dn_daemons_line
        echo "# ulimit -n of xenstored/xenconsoled (Max open files soft hard):"
        for d in xenstored xenconsoled; do
            p=$(dn_pid_of $d)
            [ -n "$p" ] && echo "$d $(grep 'Max open files' /proc/"$p"/limits | awk '{print $4, $5}')"
        done
        echo "# xl processes: $(ps -C xl -o pid= 2>/dev/null | wc -l)"
        echo "# free -k:"
        free -k
    } >"$R/daemons-$1.txt" 2>&1
}

# dn_cfg <i> [name]: writes the xl config of instance <i> (name default <prefix>-<i>).
dn_cfg() {
    c="$CFGDIR/$1.cfg"
    {
        echo "name = \"${2:-$DN_PREFIX-$1}\""
        echo "type = \"pv\""
        echo "kernel = \"$DN_KERNEL\""
        echo "memory = $DN_MEMORY"
        echo "vcpus = $DN_VCPUS"
        echo "on_poweroff = \"destroy\""
        echo "on_reboot = \"destroy\""
        echo "on_crash = \"preserve\""
        if [ "$DN_VIF" = 1 ]; then
            b=$((($1 - 1) % DN_BRIDGES))
            m=$(printf '00:16:3e:%02x:%02x:%02x' $((($1 >> 16) & 255)) $((($1 >> 8) & 255)) $(($1 & 255)))
            if [ -n "${DN_VIF_SCRIPT:-}" ]; then
                echo "vif = [ \"bridge=dnbr$b,mac=$m,script=$DN_VIF_SCRIPT\" ]"
            else
                echo "vif = [ \"bridge=dnbr$b,mac=$m\" ]"
            fi
        fi
    } >"$c"
}

# dn_wait_ready <logfile> <deadline_ms>: 0 when the marker is in the console log, with
# ready_at set; 1 at the deadline.
dn_wait_ready() {
    while :; do
        if [ -r "$1" ]; then
            while IFS= read -r l || [ -n "$l" ]; do
                case "$l" in
                *"$DN_MARKER"*)
                    dn_now
                    ready_at=$now_ms
                    return 0
                    ;;
                esac
            done <"$1"
        fi
        dn_now
        [ "$now_ms" -lt "$2" ] || return 1
        sleep 0.05
    done
}

# dn_destroy <name>: destroys one instance with the run's creator.
dn_destroy() {
    if [ "$DN_CREATOR" = leanxl ]; then
        "$DN_LEANXL" destroy "$1"
    else
        xl destroy "$1"
    fi
}

# dn_create <i>: creates instance <i>, prints its record line.
dn_create() {
    i=$1 name=$DN_PREFIX-$1
    clog=$CONSDIR/guest-$name.log
    rm -f "$clog"
    if [ "$DN_CREATOR" = leanxl ]; then
        dn_now
        t0=$now_ms
        "$DN_LEANXL" create --name "$name" --kernel "$DN_KERNEL" --memory "$DN_MEMORY" \
            </dev/null >"$CFGDIR/$i.err" 2>&1
        rc=$?
        dn_now
        t1=$now_ms
        if [ "$rc" = 0 ]; then
            # its per-step times, kept with builtins only (no fork on the create path)
            while IFS= read -r l; do
                case "$l" in "leanxl: created "*) echo "$i,$l" >>"$R/steps.w${DN_W:-0}" ;; esac
            done <"$CFGDIR/$i.err"
        fi
    else
        dn_cfg "$i"
        dn_now
        t0=$now_ms
        # shellcheck disable=SC2086
        xl create $DN_XL_FLAGS "$CFGDIR/$i.cfg" </dev/null >"$CFGDIR/$i.err" 2>&1
        rc=$?
        dn_now
        t1=$now_ms
    fi
    err=
    ready=
    if [ "$rc" = 0 ]; then
        status=ok
        if [ "$DN_CONSOLE_LOG" = 1 ]; then
            if dn_wait_ready "$clog" $((t1 + DN_READY_TIMEOUT * 1000)); then
                ready=$((ready_at - t0))
            else
                status=not-ready
                err="marker $DN_MARKER not on the console within ${DN_READY_TIMEOUT}s"
                # evidence: what the console and Xen say, and the domain's state
                {
                    echo "# xl list $name"
                    xl list "$name" 2>&1
                    echo "# console log $clog (first 40 lines)"
                    head -n 40 "$clog" 2>&1
                    echo "# xl dmesg (last 30 lines)"
                    xl dmesg 2>&1 | tail -n 30
                } >"$R/not-ready-$i.txt" 2>&1
            fi
        fi
    else
        status=create-failed
        # xl's first error line (else its last line), commas out (CSV); all it said kept
        first=
        while IFS= read -r l; do
            [ -n "$l" ] && err=$l
            case "$l" in *error*) [ -z "$first" ] && first=$l ;; esac
        done <"$CFGDIR/$i.err"
        [ -n "$first" ] && err=$first
        cp "$CFGDIR/$i.err" "$R/xl-error-$i.txt"
        err=$(printf '%s' "$err" | tr ',\r' ';;')
    fi
    echo "$i,$name,$status,$t0,$((t1 - t0)),$ready,$rc,$err"
}

# dn_worker <k> <listfile>: creates the instances on lines k, k+W, ... of <listfile>.
dn_worker() {
    DN_W=$1
    sed -n "$1~${DN_WORKERS}p" "$2" | while read -r n; do
        [ -e "$R/stop" ] && break
        dn_create "$n" >>"$R/rec.w$1"
        dn_tick "$RUN created $n"
    done
}

dn_bridges() {
    [ "$DN_VIF" = 1 ] || return 0
    b=0
    while [ "$b" -lt "$DN_BRIDGES" ]; do
        if ! ip link show "dnbr$b" >/dev/null 2>&1; then
            ip link add "dnbr$b" type bridge && ip link set "dnbr$b" up
        fi
        b=$((b + 1))
    done
}

# dn_run_list <listfile> <tag>: W workers over the list, sampler alongside; snapshot after.
dn_run_list() {
    dn_bridges
    rm -f "$R/stop" "$R/sampler-stop"
    dn_sampler "$R/sampler-stop" &
    sp=$!
    dn_now
    start=$now_ms
    if [ "$DN_CREATOR" = leanxl ]; then how="$DN_LEANXL create"; else how="xl create $DN_XL_FLAGS"; fi
    dn_say "$RUN $2: $(wc -l <"$1") instance(s), $DN_WORKERS worker(s), $how"
    k=1
    pids=
    while [ "$k" -le "$DN_WORKERS" ]; do
        dn_worker "$k" "$1" &
        pids="$pids $!"
        k=$((k + 1))
    done
    echo "$pids" >"$R/worker-pids"
    # shellcheck disable=SC2086
    wait $pids
    dn_now
    : >"$R/sampler-stop"
    kill "$sp" 2>/dev/null # not waiting out its sleep
    wait "$sp" 2>/dev/null
    echo "phase=$2 start_ms=$start end_ms=$now_ms" >>"$R/phases"
    dn_snapshot "$2"
    dn_say "$RUN $2: done in $(((now_ms - start) / 1000)) s; $(cat "$R"/rec.w* | grep -c ',ok,') ok record(s)"
}

dn_spawn() { # <from> <to>
    seq "$1" "$2" >"$CFGDIR/list-$1-$2"
    dn_run_list "$CFGDIR/list-$1-$2" "spawn-$2"
}

# Instances of this run (by exact name) that xl lists, one index per line.
dn_listed() {
    xl list 2>/dev/null | awk -v p="$DN_PREFIX-" -v n="$DN_COUNT" '
        index($1, p) == 1 { i = substr($1, length(p) + 1); if (i ~ /^[0-9]+$/ && i + 0 >= 1 && i + 0 <= n) print i + 0 }'
}

# dn_resume: creates every instance of 1..DN_COUNT that has no ok record and is not running;
# one that exists without an ok record (its creation was interrupted) is destroyed first.
dn_resume() {
    dn_listed | sort -n >"$CFGDIR/listed"
    cat "$R"/rec.w* 2>/dev/null | awk -F, '$3 == "ok" { print $1 }' | sort -n | uniq >"$CFGDIR/okrec"
    : >"$CFGDIR/todo"
    partial=0
    awk -v n="$DN_COUNT" 'FILENAME == ARGV[1] { listed[$1] = 1; next } { ok[$1] = 1 }
        END { for (i = 1; i <= n; i++) {
                if (listed[i] && ok[i]) continue
                if (listed[i]) print "partial " i; else print "create " i } }' \
        "$CFGDIR/listed" "$CFGDIR/okrec" >"$CFGDIR/resume-plan"
    while read -r what i; do
        if [ "$what" = partial ]; then
            # created by an interrupted `xl create`: not trusted, destroyed and made again
            dn_now
            t0=$now_ms
            dn_destroy "$DN_PREFIX-$i" >/dev/null 2>&1
            rc=$?
            dn_now
            echo "$i,$DN_PREFIX-$i,destroyed-partial,$t0,$((now_ms - t0)),,$rc," >>"$R/rec.resume"
            dn_tick "$RUN destroyed partial $i"
            partial=$((partial + 1))
        fi
        echo "$i" >>"$CFGDIR/todo"
    done <"$CFGDIR/resume-plan"
    dn_say "$RUN resume: $(wc -l <"$CFGDIR/listed") running, $partial partial destroyed, $(wc -l <"$CFGDIR/todo") to create"
    dn_run_list "$CFGDIR/todo" resume
}

# dn_teardown: destroys exactly this run's instances (by name), DN_TEARDOWN_WORKERS
# (default DN_WORKERS) in parallel; records the time and what is left.
dn_teardown() {
    dn_listed >"$CFGDIR/down"
    ndown=$(wc -l <"$CFGDIR/down")
    tw=${DN_TEARDOWN_WORKERS:-$DN_WORKERS}
    dn_now
    t0=$now_ms
    k=1
    pids=
    while [ "$k" -le "$tw" ]; do
        sed -n "$k~${tw}p" "$CFGDIR/down" | while read -r i; do
            dn_destroy "$DN_PREFIX-$i" >/dev/null 2>>"$R/teardown-errors.txt" \
                || echo "destroy $DN_PREFIX-$i failed" >>"$R/teardown-errors.txt"
            dn_tick "$RUN destroyed $i"
        done &
        pids="$pids $!"
        k=$((k + 1))
    done
    # shellcheck disable=SC2086
    wait $pids
    dn_now
    left=$(dn_listed | wc -l)
    # console logs and generated configs of this run go too
    rm -f "$CONSDIR"/guest-"$DN_PREFIX"-*.log
    rm -rf "$CFGDIR"
    mkdir -p "$CFGDIR"
    {
        echo "listed_before=$ndown"
        echo "workers=$tw"
        echo "teardown_ms=$((now_ms - t0))"
        echo "left=$left"
    } >"$R/teardown"
    dn_snapshot teardown
    dn_say "$RUN teardown: $((now_ms - t0)) ms, $left left"
}

# dn_probe <tag>: with the current instances running, one extra instance created with
# `xl -vvv create` (every line timestamped), daemon CPU before/after, `xl list` and
# `xl destroy` timed.
dn_probe() {
    p="$R/probe-$1.txt"
    n=$(dn_listed | wc -l)
    dn_cfg probe "$DN_PREFIX-probe"
    pcfg=$CFGDIR/probe.cfg
    {
        echo "instances_running=$n"
        dn_now
        a=$now_ms
        xl list >/dev/null 2>&1
        dn_now
        echo "xl_list_ms=$((now_ms - a))"
        echo "daemons_before=$(dn_daemons_line)"
        echo "creator=${DN_CREATOR:-xl}"
        dn_now
        a=$now_ms
        if [ "$DN_CREATOR" = leanxl ]; then
            "$DN_LEANXL" create --name "$DN_PREFIX-probe" --kernel "$DN_KERNEL" \
                --memory "$DN_MEMORY" </dev/null >"$R/probe-$1-xl.log" 2>&1
        else
            # shellcheck disable=SC2086
            xl -vvv create $DN_XL_FLAGS "$pcfg" </dev/null 2>&1 | while IFS= read -r l; do
                dn_now
                echo "+$((now_ms - a)) $l"
            done >"$R/probe-$1-xl.log"
        fi
        dn_now
        echo "xl_create_ms=$((now_ms - a))"
        echo "daemons_after=$(dn_daemons_line)"
        a=$now_ms
        dn_destroy "$DN_PREFIX-probe" >/dev/null 2>&1
        dn_now
        echo "xl_destroy_ms=$((now_ms - a))"
        echo "daemons_header=$DN_DAEMONS_HEADER"
    } >"$p" 2>&1
    dn_say "$RUN probe at $n: $(tr '\n' ' ' <"$p" | cut -c1-200)"
    dn_tick "$RUN probe at $n"
}

# dn_console_log <on|off>: restarts xenconsoled with or without per-guest log files (only
# while no guest runs: xenconsoled picks up existing domains when it starts).
dn_console_log() {
    p=$(dn_pid_of xenconsoled)
    [ -n "$p" ] && kill "$p" && sleep 1
    if [ "$1" = on ]; then
        /usr/sbin/xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
    else
        /usr/sbin/xenconsoled --pid-file=/run/xenconsoled.pid --log=none
    fi
    sleep 1
    dn_say "xenconsoled restarted, guest console logs $1 (pid $(dn_pid_of xenconsoled))"
}

# dn_interrupt <from> <to> <after>: spawn in the background, SIGKILL the whole process group
# (workers and any `xl create` in flight) once <after> records exist.
dn_interrupt() {
    # its own process group (a background child is no group leader: setsid does not fork)
    setsid sh "$0" spawn "$D" "$RUN" "$1" "$2" &
    job=$!
    while [ "$(cat "$R"/rec.w* 2>/dev/null | wc -l)" -lt "$3" ]; do
        if ! kill -0 "$job" 2>/dev/null; then break; fi
        sleep 0.2
    done
    kill -9 "-$job" 2>/dev/null
    wait "$job" 2>/dev/null
    dn_now
    echo "phase=interrupted records=$(cat "$R"/rec.w* 2>/dev/null | wc -l) at_ms=$now_ms" >>"$R/phases"
    xl list >"$R/xl-list-interrupted.txt" 2>&1
    dn_say "$RUN interrupted (SIGKILL of the spawner and its xl processes) after $(cat "$R"/rec.w* | wc -l) record(s)"
}

# dn_limits: raises xenstored's and xenconsoled's open-file limits (each guest costs
# xenconsoled ~3 descriptors: pty, log file, event channel) and records the host-side limits.
dn_limits() {
    {
        for d in xenstored xenconsoled; do
            p=$(dn_pid_of $d)
            [ -n "$p" ] || continue
            echo "$d ($(cat /proc/"$p"/comm), pid $p) before: $(grep 'Max open files' /proc/"$p"/limits)"
            soft=$(awk '/Max open files/ { print $4 }' /proc/"$p"/limits)
            if [ "$soft" != unlimited ] && [ "$soft" -lt 65536 ]; then
                prlimit --pid "$p" --nofile=65536:65536 || echo "$d: prlimit failed"
            fi
            echo "$d after: $(grep 'Max open files' /proc/"$p"/limits)"
        done
        echo "fs.file-max $(cat /proc/sys/fs/file-max)"
        echo "kernel.pty.max $(cat /proc/sys/kernel/pty/max) (in use $(cat /proc/sys/kernel/pty/nr))"
        for d in xenstored xenconsoled; do
            p=$(dn_pid_of $d)
            [ -n "$p" ] && echo "$d command line: $(tr '\0' ' ' </proc/"$p"/cmdline)"
        done
        ls -l /usr/lib/xen-4.17/bin/ | grep -i store
        ps -eo pid,rss,comm,args | grep -i -E 'xen|PID' | grep -v grep
        cat /etc/default/xen /etc/xen/oxenstored.conf 2>/dev/null | grep -v '^#' | grep .
    } >"$D/limits.txt" 2>&1
    dn_say "limits: $(grep after "$D/limits.txt" | tr -s " " | tr "\n" ";")"
}

# dn_idle <secs>: all instances up and idle: dom0 and daemon CPU over <secs> (samples every
# second), to tell a daemon's per-create cost from a cost per existing instance.
dn_idle() {
    rm -f "$R/idle-stop"
    a="$(dn_daemons_line)"
    dn_now
    t0=$now_ms
    sleep "$1"
    dn_now
    {
        echo "idle_ms=$((now_ms - t0))"
        echo "instances_running=$(dn_listed | wc -l)"
        echo "daemons_before=$a"
        echo "daemons_after=$(dn_daemons_line)"
        echo "daemons_header=$DN_DAEMONS_HEADER"
    } >"$R/idle.txt"
    dn_say "$RUN idle $1 s: $(tr '\n' ' ' <"$R/idle.txt" | cut -c1-200)"
}

dn_plan() { # <dir>: every line of <dir>/plan: <command> <run> [args]
    D=$1
    while read -r cmd run a b c; do
        case "$cmd" in
        '' | '#'*) continue ;;
        esac
        echo "$cmd $run $a $b $c" >>"$D/plan.progress"
        dn_tick "plan: $cmd $run $a $b $c"
        case "$cmd" in
        console-log) dn_console_log "$run" ;;
        limits) dn_limits ;;
        exec) sh -c "$(cat "$D/$run")" >"$D/$run.out" 2>&1 ;;
        *)
            dn_load "$D" "$run" || continue
            case "$cmd" in
            spawn) dn_spawn "$a" "$b" ;;
            interrupt) dn_interrupt "$a" "$b" "$c" ;;
            resume) dn_resume ;;
            probe) dn_probe "$a" ;;
            snapshot) dn_snapshot "$a" ;;
            idle) dn_idle "$a" ;;
            teardown) dn_teardown ;;
            *) dn_say "unknown plan line: $cmd $run" ;;
            esac
            ;;
        esac
    done <"$D/plan"
    echo "end" >>"$D/plan.progress"
}

case "$1" in
plan) dn_plan "$2" ;;
spawn) dn_load "$2" "$3" && dn_spawn "$4" "$5" ;;
resume) dn_load "$2" "$3" && dn_resume ;;
teardown) dn_load "$2" "$3" && dn_teardown ;;
probe) dn_load "$2" "$3" && dn_probe "${4:-manual}" ;;
*)
    echo "usage: sh density.sh plan|spawn|resume|teardown|probe <dir> [<run> ...]" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# Idempotent setup of everything the project needs on a Debian 12 machine, by the project's
# own means: the Rust toolchain pinned in rust-toolchain.toml (with x86_64-unknown-none,
# rustfmt, clippy) and the Debian packages of the Xen host tooling (QEMU 10 from
# bookworm-backports, debootstrap, libxen-dev, e2fsprogs, ...). When everything is present it
# touches nothing (no apt at all) and takes well under a second.
#   tools/setup.sh            (./minios setup)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { echo "[setup] $*"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        say "need root for: $*"
        exit 1
    fi
}

# ---- Debian packages -------------------------------------------------------------------
# Installed from bookworm itself:
base_pkgs=(debootstrap libxen-dev e2fsprogs util-linux coreutils gzip procps binutils gcc)
# QEMU: Debian 12's own 7.2 conflicts with the machine's backports qemu-utils, and 10.0 from
# bookworm-backports is what was verified to run Xen + dom0 well under TCG.
qemu_pkg=qemu-system-x86
qemu_min=1:10.0

installed() { # installed <pkg>: prints the version if installed
    # dpkg-query fails for a package it has never seen: that is "not installed", not an
    # error (with pipefail it would end the script silently).
    { dpkg-query -W -f '${db:Status-Abbrev} ${Version}\n' "$1" 2>/dev/null || true; } |
        awk '$1 == "ii" { print $2 }'
}

missing=()
for p in "${base_pkgs[@]}"; do
    [ -n "$(installed "$p")" ] || missing+=("$p")
done
qemu_ver=$(installed "$qemu_pkg" || true)
need_qemu=0
if [ -z "$qemu_ver" ] || ! dpkg --compare-versions "$qemu_ver" ge "$qemu_min"; then
    need_qemu=1
fi

have_backports() {
    grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/
}

add_backports() {
    # Same URIs and Signed-By as the machine's Debian source, suite bookworm-backports.
    local src=/etc/apt/sources.list.d/debian.sources uris="" signed=""
    if [ -f "$src" ]; then
        # the stanza whose URIs end in /debian (not debian-security)
        read -r uris signed < <(awk '
            /^[[:space:]]*$/ { if (u ~ /\/debian\/?$/ && !done) { print u, s; done = 1 } u = ""; s = ""; next }
            /^URIs:/ { u = $2 }
            /^Signed-By:/ { s = $2 }
            END { if (u ~ /\/debian\/?$/ && !done) print u, s }' "$src") || true
    fi
    uris=${uris:-http://deb.debian.org/debian}
    signed=${signed:-/usr/share/keyrings/debian-archive-keyring.gpg}
    say "adding bookworm-backports ($uris)"
    as_root tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<EOF
Types: deb
URIs: $uris
Suites: bookworm-backports
Components: main
Signed-By: $signed
EOF
}

if [ ${#missing[@]} -gt 0 ] || [ "$need_qemu" = 1 ]; then
    export DEBIAN_FRONTEND=noninteractive
    if [ "$need_qemu" = 1 ] && ! have_backports; then
        add_backports
    fi
    # apt's and dpkg's chatter (hundreds of lines on a fresh machine) goes to a log; its end
    # is shown if a step fails
    aptlog=$root/out/setup-apt.log
    mkdir -p "$root/out"
    : >"$aptlog"
    apt_run() { # apt_run <what> <apt-get args...>
        local what=$1
        shift
        say "$what (log: $aptlog)"
        if ! as_root apt-get "$@" >>"$aptlog" 2>&1; then
            say "FAILED: $what; the end of $aptlog:"
            tail -n 40 "$aptlog"
            exit 1
        fi
    }
    apt_run "apt-get update" update -q
    if [ "$need_qemu" = 1 ]; then
        apt_run "installing $qemu_pkg from bookworm-backports" \
            install -y -q -t bookworm-backports "$qemu_pkg"
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        apt_run "installing ${missing[*]}" install -y -q "${missing[@]}"
    fi
fi

# ---- Rust toolchain ---------------------------------------------------------------------
if ! command -v rustup >/dev/null; then
    say "rustup is not installed: install it (https://rustup.rs) and re-run"
    exit 1
fi
toolchain=$(sed -n 's/^[[:space:]]*channel[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' \
    "$root/rust-toolchain.toml")
toolchain=${toolchain:?no channel in rust-toolchain.toml}
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
    say "installing Rust $toolchain"
    rustup toolchain install "$toolchain" --profile minimal
fi
if ! rustup target list --installed --toolchain "$toolchain" | grep -qx x86_64-unknown-none; then
    say "adding target x86_64-unknown-none to $toolchain"
    rustup target add x86_64-unknown-none --toolchain "$toolchain"
fi
# guestbench (tools/guestbench) is built statically for the musl target: the same binary
# runs in dom0 and in the Linux reference guest's busybox initramfs.
if ! rustup target list --installed --toolchain "$toolchain" | grep -qx x86_64-unknown-linux-musl; then
    say "adding target x86_64-unknown-linux-musl to $toolchain"
    rustup target add x86_64-unknown-linux-musl --toolchain "$toolchain"
fi
components=$(rustup component list --installed --toolchain "$toolchain")
for c in rustfmt clippy; do
    if ! grep -q "^$c" <<<"$components"; then
        say "adding $c to $toolchain"
        rustup component add "$c" --toolchain "$toolchain"
    fi
done

say "ok: $(qemu-system-x86_64 --version | head -n1), Rust $toolchain"

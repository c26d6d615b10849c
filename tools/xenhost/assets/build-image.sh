#!/usr/bin/env bash
# Builds the xenhost image (Xen 4.17 hypervisor + Debian 12 PV dom0) from Debian packages only.
#   build-image.sh <recipe-dir> <out-dir>
# <recipe-dir> holds packages.txt, minios-init and xen-default (xenhost writes them there from
# the copies embedded in the binary; their text and this script's are the cache key).
# <out-dir> is a fresh temporary directory: xenhost renames it into the cache only after this
# script succeeded, so an interrupted build never leaves a half cache.
# Step lines go to stdout; the commands' own output goes to <out-dir>/build.log.
set -euo pipefail
# debootstrap, chroot, mkfs.ext4 and dpkg in the chroot need the sbin directories
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

recipe=$(realpath "$1")
out=$(realpath "$2")
mirror=${MINIOS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${MINIOS_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
root="$out/rootfs"
log="$out/build.log"

exec 3>&1 >>"$log" 2>&1
t0=$(date +%s)
step_name=""
step_start=$t0
step() {
    local now
    now=$(date +%s)
    if [ -n "$step_name" ]; then
        echo "[image]   done: $step_name ($((now - step_start)) s)" >&3
    fi
    step_name="$1"
    step_start=$now
    if [ -n "$step_name" ]; then
        echo "[image] step: $step_name" >&3
        echo "===== $step_name ($(date -u +%FT%TZ))"
    fi
}

mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount -l "${mounted[$i]}" 2>/dev/null || true
    done
}
trap cleanup EXIT
chroot_mounts() {
    local m
    mount -t proc proc "$root/proc" && mounted+=("$root/proc")
    mount -t sysfs sysfs "$root/sys" && mounted+=("$root/sys")
    for m in dev dev/pts; do
        mount --bind "/$m" "$root/$m" && mounted+=("$root/$m")
    done
}
chroot_umounts() {
    cleanup
    mounted=()
}
in_root() { chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }

mapfile -t pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$recipe/packages.txt" | grep -v '^$')
include=$(IFS=,; echo "${pkgs[*]}")

unmount_below() { # lazily unmounts whatever is mounted at or below $1, deepest first
    awk -v d="$1" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts |
        sort -r | while read -r m; do umount -l "$m" || true; done
}

step "debootstrap (minbase, ${#pkgs[@]} extra packages)"
for attempt in 1 2 3; do
    mkdir -p "$root"
    if debootstrap --variant=minbase --include="$include" bookworm "$root" "$mirror"; then
        break
    fi
    echo "[image]   debootstrap failed (attempt $attempt of 3)" >&3
    unmount_below "$root"
    rm -rf --one-file-system "$root"
    [ "$attempt" -lt 3 ] || exit 1
    sleep 10
done

step "add bookworm-security and upgrade in the dom0 root"
cat >"$root/etc/apt/sources.list" <<SRC
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security_mirror bookworm-security main
SRC
echo 'Acquire::Retries "5";' >"$root/etc/apt/apt.conf.d/80-retries"
# No service may start inside the build chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
chroot_mounts
in_root apt-get update
in_root apt-get -y -o Dpkg::Options::=--force-confold upgrade
in_root apt-get -y -o Dpkg::Options::=--force-confold --no-install-recommends install "${pkgs[@]}"
# The upgrade may have brought a newer kernel ABI: keep only the one linux-image-amd64 needs.
keep=$(in_root dpkg-query -W -f '${Depends}' linux-image-amd64 | grep -o 'linux-image-[0-9][^ ,]*' | head -n1)
old_kernels=$(in_root dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' 'linux-image-[0-9]*' \
    | awk -v keep="$keep" '$1 == "ii" && $2 != keep { print $2 }')
if [ -n "$old_kernels" ]; then
    # shellcheck disable=SC2086
    in_root apt-get -y purge $old_kernels
fi
in_root apt-get clean

step "Linux PV reference guest: its kernel and a busybox initramfs"
# The domU kernel is the dom0 kernel (Debian's linux-image-amd64 boots as a Xen PV domU too).
# The initramfs holds Debian's busybox, the libraries it links against, and xen-netfront,
# xen-blkfront and the modules they depend on, decompressed, with /etc/minios-modules listing
# them in load order. Its /init is a stub: xenhost appends a second cpio archive per run with
# the real /init (assets/linux-guest-init) and /bin/guestbench, so neither is part of the
# image and changing them never rebuilds it.
gkver=$(in_root dpkg-query -W -f '${Depends}' linux-image-amd64 | grep -o 'linux-image-[0-9][^ ,]*' | head -n1)
gkver=${gkver#linux-image-}
gdir=/usr/lib/minios-linux-guest
stage=/tmp/minios-linux-guest-initramfs
ir="$root$stage"
rm -rf "$ir"
mkdir -p "$root$gdir" "$ir"/{bin,sbin,dev,proc,sys,etc,tmp,mnt,root,lib/modules}
cp "$root/boot/vmlinuz-$gkver" "$root$gdir/vmlinuz"
cp "$root/bin/busybox" "$ir/bin/busybox"
for a in $(in_root /bin/busybox --list); do
    [ -e "$ir/bin/$a" ] || ln -s busybox "$ir/bin/$a"
done
# the kernel runs /sbin/poweroff on `xl shutdown` (orderly_poweroff): make that power off
printf '#!/bin/sh\nsync\nexec /bin/busybox poweroff -f\n' >"$ir/sbin/poweroff"
chmod 0755 "$ir/sbin/poweroff"
# shared libraries of busybox (none if it is static), by the paths its loader uses
for lib in $(in_root ldd /bin/busybox 2>/dev/null | grep -o '/[^ ]*' || true); do
    mkdir -p "$ir$(dirname "$lib")"
    cp -L "$root$lib" "$ir$lib"
done
: >"$ir/etc/minios-modules"
for m in xen-netfront xen-blkfront; do
    in_root modprobe -S "$gkver" --show-depends "$m"
done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' >"$out/linux-guest-modules.txt"
while read -r mod; do
    base=${mod##*/}
    case "$base" in
    *.ko.xz) base=${base%.xz}; in_root xz -dc "$mod" >"$ir/lib/modules/$base" ;;
    *.ko.zst) base=${base%.zst}; in_root zstd -q -dc "$mod" >"$ir/lib/modules/$base" ;;
    *.ko.gz) base=${base%.gz}; in_root gzip -dc "$mod" >"$ir/lib/modules/$base" ;;
    *.ko) cp "$root$mod" "$ir/lib/modules/$base" ;;
    *) echo "unexpected module file $mod" >&3; exit 1 ;;
    esac
    echo "$base" >>"$ir/etc/minios-modules"
done <"$out/linux-guest-modules.txt"
for m in xen-netfront xen-blkfront; do
    if ! grep -q "^${m}.ko\$" "$ir/etc/minios-modules" \
        && ! in_root modprobe -S "$gkver" --show-depends "$m" | grep -q '^builtin '; then
        echo "no module $m for kernel $gkver" >&3
        exit 1
    fi
done
cat >"$ir/init" <<'STUB'
#!/bin/sh
echo "LINUXREF-FAIL: this is the base initramfs; xenhost appends the /init to run"
/bin/busybox poweroff -f
STUB
chmod 0755 "$ir/init"
echo "$gkver" >"$ir/etc/minios-kernel"
in_root sh -c "cd $stage && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet" \
    | gzip -9 -n >"$root$gdir/initrd.gz"
rm -rf "$ir"
cp "$root$gdir/vmlinuz" "$out/linux-guest-vmlinuz"
cp "$root$gdir/initrd.gz" "$out/linux-guest-initrd.gz"
chroot_umounts
rm -f "$root/usr/sbin/policy-rc.d"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin

step "check versions, copy the hypervisor and dom0 kernel out"
qver() { chroot "$root" dpkg-query -W -f '${Version}' "$1"; }
xen_hv=$(qver xen-hypervisor-4.17-amd64)
xen_utils=$(qver xen-utils-4.17)
if [ "$xen_hv" != "$xen_utils" ]; then
    echo "xen-hypervisor-4.17-amd64 $xen_hv != xen-utils-4.17 $xen_utils" >&3
    exit 1
fi
xen_gz=$(ls "$root"/boot/xen-4.17-amd64.gz 2>/dev/null || ls "$root"/boot/xen-*.gz | head -n1)
gunzip -c "$xen_gz" >"$out/xen"
vmlinuz=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n1)
kver=${vmlinuz##*/vmlinuz-}
cp "$vmlinuz" "$out/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$out/initrd.img"

step "install the dom0 init and configuration"
install -m 0755 "$recipe/minios-init" "$root/sbin/minios-init"
cat "$recipe/xen-default" >>"$root/etc/default/xen"
echo xenhost >"$root/etc/hostname"
: >"$root/etc/fstab"

{
    echo "built=$(date -u +%FT%TZ)"
    echo "xen-hypervisor-4.17-amd64=$xen_hv"
    echo "xen-utils-4.17=$xen_utils"
    echo "xen-image=$(basename "$xen_gz")"
    echo "dom0-kernel=$kver"
    echo "linux-image-amd64=$(qver linux-image-amd64)"
    echo "linux-image-$kver=$(qver "linux-image-$kver")"
    echo "debian=$(cat "$root/etc/debian_version")"
    echo "linux-guest-kernel=$gkver"
    echo "linux-guest-vmlinuz-bytes=$(stat -c %s "$out/linux-guest-vmlinuz")"
    echo "linux-guest-initrd-bytes=$(stat -c %s "$out/linux-guest-initrd.gz")"
    echo "linux-guest-modules=$(tr '\n' ' ' <"$out/linux-guest-modules.txt" | sed 's/ $//')"
    echo "busybox=$(qver busybox)"
} >"$out/versions.txt"
chroot "$root" dpkg-query -W -f '${Package}=${Version}\n' >"$out/dom0-packages.txt"

step "make the ext4 dom0 image"
used_mb=$(du -sm --apparent-size "$root" | cut -f1)
size_mb=$(((used_mb * 5 / 4 + 512 + 63) / 64 * 64))
mkfs.ext4 -q -F -L dom0 -d "$root" "$out/dom0.img" "${size_mb}M"
rm -rf --one-file-system "$root"

step ""
echo "[image] built in $(($(date +%s) - t0)) s: xen $xen_hv, dom0 kernel $kver, dom0.img ${size_mb} MB" >&3

# Assembling a container image's root file system from this machine's files (no Docker Hub, no
# network): sourced by scripts/action-image.sh (the Action's and the App's base) and
# scripts/proxy-image.sh (haproxy for examples/replicas). The caller defines say and die.

is_static() { # true if $1 is an ELF file without an interpreter (a static executable)
    LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'Elf file type' \
        && ! LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'Requesting program interpreter'
}

# rootfs_init DIR: the directories, Debian's static busybox (sh and the coreutils) and the few
# files in /etc a program looks up users and hosts in.
rootfs_init() {
    local rootfs="$1" busybox=/bin/busybox applet
    mkdir -p "$rootfs"/{usr/bin,usr/sbin,usr/lib,usr/local/bin,etc/ssl/certs,root,tmp}
    ln -s usr/bin "$rootfs/bin"
    ln -s usr/sbin "$rootfs/sbin"
    ln -s usr/lib "$rootfs/lib"
    chmod 1777 "$rootfs/tmp"
    chmod 700 "$rootfs/root"
    if [[ ! -x "$busybox" ]] || ! is_static "$busybox"; then
        die "$busybox is missing or not static (apt-get install busybox-static)"
    fi
    install -m 0755 "$busybox" "$rootfs/usr/bin/busybox"
    for applet in $("$busybox" --list); do
        [[ -e "$rootfs/usr/bin/$applet" ]] || ln -s busybox "$rootfs/usr/bin/$applet"
    done
    cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
    cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
    cat >"$rootfs/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files dns
EOF
}

# rootfs_libs DIR BINARY...: the shared libraries of the dynamic ones, each at its real directory
# (bookworm's /lib is /usr/lib) under the name the loader asks for.
rootfs_libs() {
    local rootfs="$1" libs lib dir b
    shift
    libs="$(for b in "$@"; do ldd "$b" 2>/dev/null || true; done \
        | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)"
    for lib in $libs; do
        dir="$(realpath "$(dirname "$lib")")"
        mkdir -p "$rootfs$dir"
        install -m 0755 "$(realpath "$lib")" "$rootfs$dir/$(basename "$lib")"
    done
    if [[ -e "$rootfs/usr/lib64" && ! -e "$rootfs/lib64" ]]; then
        ln -s usr/lib64 "$rootfs/lib64"
    fi
}

# rootfs_import DIR REPOSITORY CHECK [CHANGE...]: a reproducible tarball of DIR (sorted, fixed
# owner and times) imported as REPOSITORY:<first 16 hex of its sha256>, so the same host files
# give the same tag and a second run reuses it. CHECK is a shell command run in a new image
# (without network) before it is kept; CHANGE are `docker import -c` instructions (default: CMD
# ["/bin/sh"]). Prints the tag.
rootfs_import() {
    local rootfs="$1" repository="$2" check="$3" tarball tag change
    shift 3
    local changes=()
    for change in "$@"; do changes+=(-c "$change"); done
    ((${#changes[@]})) || changes=(-c 'CMD ["/bin/sh"]')
    tarball="$(mktemp /tmp/fleetflow-rootfs.XXXXXX.tar)"
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf "$tarball" .
    tag="$repository:$(sha256sum "$tarball" | cut -c1-16)"
    if docker image inspect "$tag" >/dev/null 2>&1; then
        say "$tag present"
    else
        docker import "${changes[@]}" "$tarball" "$tag" >/dev/null
        if ! docker run --rm --network none "$tag" sh -c "$check" >&2; then
            docker rmi "$tag" >/dev/null 2>&1 || true
            rm -f "$tarball"
            die "$tag was imported but \`$check\` fails in it"
        fi
        say "$tag imported"
    fi
    rm -f "$tarball"
    printf '%s\n' "$tag"
}

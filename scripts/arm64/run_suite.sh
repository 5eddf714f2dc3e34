#!/usr/bin/env bash
# The whole Python suite on arm64, emulated, on an x86-64 Debian machine.
#
# Makes (or reuses) an arm64 Debian bookworm userland with debootstrap, runs
# it through qemu-aarch64-static registered in binfmt_misc with the F flag
# (the interpreter is opened at registration, so it works inside a chroot),
# copies the project in, runs the README's commands there and exits with
# pytest's status. Then trains 2 epochs on arm64 and on the x86 generic path
# and compares the weights. See docs/arm64.md.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: scripts/arm64/run_suite.sh [options] [PROJECT_DIR] [-- PYTEST_ARGS...]

Run the project's Python test suite on arm64 under qemu user emulation, as root
on an x86-64 Debian machine. PROJECT_DIR defaults to the repository this script
is in; it is copied (without .git, virtual environments and build products).

Steps, each timed:
  1. install debootstrap and qemu-user-static with apt-get if missing;
  2. register qemu-aarch64-static in binfmt_misc with the F flag (mounting
     binfmt_misc if needed; both undone at exit);
  3. make an arm64 bookworm userland with debootstrap, or reuse the cached one;
  4. copy in the pip configuration, CA certificates, DNS settings, MNIST from
     the cache, and the project;
  5. in the chroot: python3 -m venv .venv, python -m pip install -e ".[test]",
     print simd_path(), python -m pytest;
  6. train 2 epochs (--limit 2000) on arm64 (default path and
     BACKPROP_FORCE_GENERIC=1) and on x86-64 with BACKPROP_FORCE_GENERIC=1,
     and compare the weights: generic vs generic must be bit-identical, the
     default arm64 path vs x86 generic is reported (largest difference).

Options:
  --cache DIR          cache folder for the userland, the x86 comparison build and
                       the last run's logs (default: $BACKPROP_ARM64_CACHE or
                       ~/.cache/backprop-ch5/arm64)
  --fresh              make a new userland even if a cached one exists
  --mirror URL         Debian mirror for debootstrap (default: http://deb.debian.org/debian)
  --no-compare         skip step 6
  --no-require-identity
                       report generic-vs-generic differences without failing on them
  -h, --help           this text

Exit status: pytest's status if it is not 0; else 4 when the generic-vs-generic
comparison is not bit-identical (unless --no-require-identity), 0 otherwise;
2 for bad usage or a machine that cannot do this (the message says why).

Environment: PIP_* variables are passed into the chroot (pip reaches the package
index through them and the copied pip config files); so are BACKPROP_* variables
(e.g. BACKPROP_REQUIRE_REGISTRY=1).
EOF
}

die() { echo "run_suite.sh: error: $*" >&2; exit 2; }
say() { echo "== $*"; }

# ---------------------------------------------------------------- arguments
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROJECT=""
CACHE=${BACKPROP_ARM64_CACHE:-${HOME:-/root}/.cache/backprop-ch5/arm64}
MIRROR=http://deb.debian.org/debian
SUITE=bookworm
FRESH=0
COMPARE=1
REQUIRE_IDENTITY=1
PYTEST_ARGS=()
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --cache) [ $# -ge 2 ] || die "--cache needs a folder"; CACHE=$2; shift 2 ;;
        --cache=*) CACHE=${1#*=}; shift ;;
        --mirror) [ $# -ge 2 ] || die "--mirror needs a URL"; MIRROR=$2; shift 2 ;;
        --mirror=*) MIRROR=${1#*=}; shift ;;
        --fresh) FRESH=1; shift ;;
        --no-compare) COMPARE=0; shift ;;
        --no-require-identity) REQUIRE_IDENTITY=0; shift ;;
        --) shift; PYTEST_ARGS=("$@"); break ;;
        -*) die "unknown option '$1' (see --help)" ;;
        *) [ -z "$PROJECT" ] || die "one PROJECT_DIR only, got '$PROJECT' and '$1'"
           PROJECT=$1; shift ;;
    esac
done
if [ -z "$PROJECT" ]; then
    PROJECT=$(cd "$SCRIPT_DIR/../.." && pwd)
fi
[ -d "$PROJECT" ] || die "PROJECT_DIR '$PROJECT' is not a folder"
PROJECT=$(cd "$PROJECT" && pwd)
if [ ! -f "$PROJECT/pyproject.toml" ] || [ ! -d "$PROJECT/native" ]; then
    die "PROJECT_DIR '$PROJECT' is not a backprop-ch5 tree (no pyproject.toml or native/)"
fi
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mount, binfmt_misc); run it with sudo"
[ "$(uname -m)" = x86_64 ] \
    || die "this machine is $(uname -m), not x86_64; on an arm64 machine run the README's commands directly"
case $CACHE in /*) ;; *) CACHE=$PWD/$CACHE ;; esac
CACHE=${CACHE%/}
if [ -z "$CACHE" ] || [ "$CACHE" = / ]; then die "--cache must not be /"; fi
case $PROJECT/ in "$CACHE"/*) die "PROJECT_DIR must not lie inside the cache folder $CACHE" ;; esac

ROOTFS=$CACHE/rootfs                 # the arm64 userland
X86=$CACHE/x86                       # the x86 copy of the project, for the comparison
OUT=$CACHE/last-run                  # logs and checkpoints of the last run
# What the userland holds beyond minbase: a compiler and Python headers for cffi,
# venv, CA certificates, and Fashion-MNIST (the suite's one Debian-packaged data set).
PACKAGES=python3,python3-venv,python3-dev,gcc,libc6-dev,ca-certificates,dataset-fashion-mnist
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock -n 9 || die "another run_suite.sh is using $CACHE; wait for it or pass --cache"

# ---------------------------------------------------------------- timing
# Wall time, and the CPU time (user + system) of the step's finished child
# processes: on a shared machine the wall time is mostly waiting, while the CPU
# time is roughly what the step takes on a quiet one (every step is one process
# at a time, qemu included).
STEP_NAMES=()
STEP_SECS=()
STEP_CPU=()
TICK=$(getconf CLK_TCK)
now() { echo "$(date +%s.%N) $(awk '{ print $16 + $17 }' "/proc/$$/stat")"; }
T_START=$(now)
elapsed() {   # elapsed START_PAIR -> "wall cpu"
    awk -v a="$1" -v b="$(now)" -v t="$TICK" \
        'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.1f %.1f", y[1] - x[1], (y[2] - x[2]) / t }'
}
record() {   # record NAME START_PAIR
    local d
    d=$(elapsed "$2")
    STEP_NAMES+=("$1"); STEP_SECS+=("${d% *}"); STEP_CPU+=("${d#* }")
    echo "   ($1: ${d% *} s, CPU ${d#* } s)"
}
summary() {
    local i d
    echo
    say "time per step: wall s, CPU s"
    for i in "${!STEP_NAMES[@]}"; do
        printf '   %-40s %8s %8s\n' "${STEP_NAMES[$i]}" "${STEP_SECS[$i]}" "${STEP_CPU[$i]}"
    done
    d=$(elapsed "$T_START")
    printf '   %-40s %8s %8s\n' "total" "${d% *}" "${d#* }"
}

# ---------------------------------------------------------------- cleanup
# Everything this script mounts lies under $CACHE; the binfmt entry has a name
# of its own. Both are undone on any exit.
BINFMT_DIR=/proc/sys/fs/binfmt_misc
BINFMT_MOUNTED=0
BINFMT_NAME=""
mounts_under() {   # mount points at or under $1, deepest first
    awk -v p="$1" '{ m = $5; gsub(/\\040/, " ", m); if (m == p || index(m, p "/") == 1) print m }' \
        /proc/self/mountinfo | sort -r
}
unmount_under() {
    local m
    while read -r m; do
        [ -n "$m" ] || continue
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null \
            || echo "run_suite.sh: warning: could not unmount $m" >&2
    done < <(mounts_under "$1")
}
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local rc=$? e
    set +e
    unmount_under "$CACHE"
    if [ -n "$BINFMT_NAME" ] && [ -e "$BINFMT_DIR/$BINFMT_NAME" ]; then
        echo -1 > "$BINFMT_DIR/$BINFMT_NAME"
    fi
    if [ "$BINFMT_MOUNTED" = 1 ]; then   # unless another run's entry is still there
        for e in "$BINFMT_DIR"/backprop-ch5-*; do [ -e "$e" ] && BINFMT_MOUNTED=0; done
        [ "$BINFMT_MOUNTED" = 0 ] || umount "$BINFMT_DIR"
    fi
    if [ -n "$(mounts_under "$CACHE")" ]; then
        echo "run_suite.sh: warning: still mounted under $CACHE:" >&2
        mounts_under "$CACHE" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- 1. tools
t=$(now)
say "1. tools: debootstrap, qemu-aarch64-static"
QEMU=/usr/bin/qemu-aarch64-static
if ! command -v debootstrap >/dev/null || [ ! -x "$QEMU" ] \
        || [ ! -e /usr/share/keyrings/debian-archive-keyring.gpg ]; then
    command -v apt-get >/dev/null \
        || die "debootstrap or qemu-user-static is missing and there is no apt-get to install them"
    echo "   installing debootstrap qemu-user-static debian-archive-keyring with apt-get"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            debootstrap qemu-user-static debian-archive-keyring >/dev/null; }; then
        die "apt-get could not install debootstrap qemu-user-static debian-archive-keyring (see above)"
    fi
fi
command -v debootstrap >/dev/null || die "debootstrap is still missing after apt-get"
[ -x "$QEMU" ] || die "$QEMU is still missing after apt-get install qemu-user-static"
record "tools" "$t"

# ---------------------------------------------------------------- 2. binfmt
t=$(now)
say "2. binfmt_misc: qemu-aarch64-static with the F flag"
if [ ! -e "$BINFMT_DIR/register" ]; then
    grep -qw binfmt_misc /proc/filesystems \
        || die "this kernel has no binfmt_misc; arm64 binaries cannot run here"
    mount -t binfmt_misc binfmt_misc "$BINFMT_DIR" \
        || die "could not mount binfmt_misc on $BINFMT_DIR"
    BINFMT_MOUNTED=1
fi
# Newest entry wins, so ours takes precedence over a qemu-user-binfmt one without F.
BINFMT_NAME=backprop-ch5-aarch64-$$
magic='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
printf ':%s:M::%s:%s:%s:F' "$BINFMT_NAME" "$magic" "$mask" "$QEMU" > "$BINFMT_DIR/register" \
    || { BINFMT_NAME=""; die "could not register $QEMU in binfmt_misc"; }
grep -q '^flags: F' "$BINFMT_DIR/$BINFMT_NAME" || die "binfmt entry $BINFMT_NAME lacks the F flag"
record "binfmt" "$t"

# ---------------------------------------------------------------- 3. userland
t=$(now)
MARK=$ROOTFS/.backprop-ch5-userland
want_mark="$SUITE arm64 minbase $PACKAGES"
if [ "$FRESH" = 0 ] && [ -f "$MARK" ] && [ "$(cat "$MARK")" = "$want_mark" ]; then
    say "3. userland: reusing $ROOTFS"
    step3="userland (cached)"
else
    say "3. userland: debootstrap --arch=arm64 $SUITE into $ROOTFS (several minutes)"
    step3="userland (debootstrap, cold)"
    partial=$CACHE/rootfs.partial
    unmount_under "$partial"
    unmount_under "$ROOTFS"
    [ -z "$(mounts_under "$partial")$(mounts_under "$ROOTFS")" ] \
        || die "something is still mounted under $CACHE; not deleting it"
    rm -rf --one-file-system "$partial"
    if ! debootstrap --arch=arm64 --variant=minbase --foreign --include="$PACKAGES" \
            "$SUITE" "$partial" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1; then
        tail -n 20 "$CACHE/debootstrap.log" >&2
        die "debootstrap (first stage) failed; log: $CACHE/debootstrap.log"
    fi
    if ! chroot "$partial" /debootstrap/debootstrap --second-stage >> "$CACHE/debootstrap.log" 2>&1; then
        tail -n 20 "$CACHE/debootstrap.log" >&2
        die "debootstrap (second stage, emulated) failed; log: $CACHE/debootstrap.log"
    fi
    unmount_under "$partial"
    chroot "$partial" apt-get clean >/dev/null 2>&1 || true
    echo "$want_mark" > "$partial/.backprop-ch5-userland"
    rm -rf --one-file-system "$ROOTFS"
    mv "$partial" "$ROOTFS"
fi
record "$step3" "$t"

# ---------------------------------------------------------------- 4. into the chroot
t=$(now)
say "4. mounts, pip configuration, CA certificates, MNIST, project"
mount -t proc proc "$ROOTFS/proc"
# A private /dev of its own (not a bind of the host's, whose submounts could propagate).
mount -t tmpfs -o mode=755,nosuid tmpfs "$ROOTFS/dev"
for dev in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
    IFS=: read -r n ma mi <<< "$dev"
    if ! mknod -m 666 "$ROOTFS/dev/$n" c "$ma" "$mi" 2>/dev/null; then
        : > "$ROOTFS/dev/$n"; mount --bind "/dev/$n" "$ROOTFS/dev/$n"
    fi
done
ln -s /proc/self/fd "$ROOTFS/dev/fd"
ln -s /proc/self/fd/0 "$ROOTFS/dev/stdin"
ln -s /proc/self/fd/1 "$ROOTFS/dev/stdout"
ln -s /proc/self/fd/2 "$ROOTFS/dev/stderr"
mkdir -m 1777 "$ROOTFS/dev/shm"
chroot "$ROOTFS" /bin/true \
    || die "arm64 binaries do not run in the chroot (binfmt entry $BINFMT_NAME)"

cp -L /etc/resolv.conf "$ROOTFS/etc/resolv.conf" 2>/dev/null || true
cp -L /etc/hosts "$ROOTFS/etc/hosts" 2>/dev/null || true
# pip's configuration: the registries are reached through it.
copy_in() {   # copy_in HOST_PATH [CHROOT_PATH]
    local dst=$ROOTFS${2:-$1}
    [ -e "$1" ] || return 0
    mkdir -p "$(dirname "$dst")"
    rm -rf --one-file-system "$dst"
    cp -rL "$1" "$dst"
    echo "   copied $1${2:+ -> $2}"
}
copy_in /etc/pip.conf
copy_in /etc/xdg/pip
copy_in "${XDG_CONFIG_HOME:-$HOME/.config}/pip/pip.conf" /root/.config/pip/pip.conf
copy_in "$HOME/.pip/pip.conf" /root/.pip/pip.conf
[ -z "${PIP_CONFIG_FILE:-}" ] || copy_in "$PIP_CONFIG_FILE"
# CA certificates: the host bundle, and any file the environment points tools at.
copy_in /etc/ssl/certs/ca-certificates.crt
for v in PIP_CERT SSL_CERT_FILE REQUESTS_CA_BUNDLE CURL_CA_BUNDLE; do
    f=${!v:-}
    [ -n "$f" ] && [ -f "$f" ] && [ "$f" != /etc/ssl/certs/ca-certificates.crt ] && copy_in "$f"
done
CHROOT_ENV=(HOME=/root LANG=C.UTF-8 TERM=dumb
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
while read -r v; do
    CHROOT_ENV+=("$v=${!v}")
done < <(compgen -e | grep -E '^(PIP_|BACKPROP_)' || true)

# MNIST from the cache, so the suite does not fetch it (slow when emulated).
MNIST_SRC=${XDG_CACHE_HOME:-$HOME/.cache}/backprop-ch5/mnist
if [ -d "$MNIST_SRC" ]; then
    mkdir -p "$ROOTFS/root/.cache/backprop-ch5"
    rm -rf --one-file-system "$ROOTFS/root/.cache/backprop-ch5/mnist"
    cp -r "$MNIST_SRC" "$ROOTFS/root/.cache/backprop-ch5/mnist"
    echo "   copied MNIST from $MNIST_SRC"
else
    echo "   no MNIST in $MNIST_SRC: the suite will fetch it (slow under emulation)"
fi

# The project, without git, virtual environments or build products.
copy_tree() {   # copy_tree DEST
    rm -rf --one-file-system "$1"
    mkdir -p "$1"
    tar -C "$PROJECT" -cf - --exclude=./.git --exclude='./.venv*' --exclude=./venv \
        --exclude=__pycache__ --exclude='*.so' --exclude='*.o' --exclude='*.egg-info' \
        --exclude=./build --exclude=./dist --exclude=.pytest_cache \
        --exclude=./native/_kernels.c . | tar -C "$1" -xf -
}
copy_tree "$ROOTFS/root/project"
echo "   copied $PROJECT"
rm -rf --one-file-system "$OUT"
mkdir -p "$OUT" "$ROOTFS/root/out"
rm -f "$ROOTFS"/root/out/*.npz
record "copy in" "$t"

in_chroot() {   # in_chroot COMMAND: bash -c COMMAND in the project, venv active if present
    chroot "$ROOTFS" /usr/bin/env -i "${CHROOT_ENV[@]}" /bin/bash -c \
        'cd /root/project && { [ ! -f .venv/bin/activate ] || . .venv/bin/activate; } && '"$1"
}

# ---------------------------------------------------------------- 5. the README's commands
t=$(now)
say "5a. python3 -m venv .venv   (arm64, emulated)"
in_chroot 'python3 --version && python3 -c "import platform; print(\"machine:\", platform.machine())" && python3 -m venv .venv' \
    || die "could not make the venv in the chroot"
record "venv" "$t"

t=$(now)
say "5b. python -m pip install -e \".[test]\""
if ! in_chroot 'python -m pip install -e ".[test]"' > "$OUT/pip-install.log" 2>&1; then
    tail -n 30 "$OUT/pip-install.log" >&2
    die "pip install -e \".[test]\" failed in the chroot; log: $OUT/pip-install.log"
fi
grep -E '^Successfully installed' "$OUT/pip-install.log" | sed 's/^/   /' || true
record "pip install -e .[test]" "$t"

say "simd_path on arm64:"
SIMD=$(in_chroot 'python -c "import native.kernels as k; print(k.simd_path())"') \
    || die "import native.kernels failed in the chroot"
echo "   $SIMD"
VERSIONS=$(in_chroot 'python -c "import sys, numpy, cffi; print(\"python\", sys.version.split()[0], \"numpy\", numpy.__version__, \"cffi\", cffi.__version__)"' || true)
echo "   $VERSIONS"

t=$(now)
say "5c. python -m pytest ${PYTEST_ARGS[*]:-}"
PYTEST_CMD="python -m pytest"
for a in "${PYTEST_ARGS[@]}"; do PYTEST_CMD+=" $(printf '%q' "$a")"; done
set +e
in_chroot "$PYTEST_CMD" 2>&1 | tee "$OUT/pytest.log"
PYTEST_RC=${PIPESTATUS[0]}
set -e
PYTEST_LINE=$(grep -E '^=+ .*(passed|failed|error|skipped|no tests ran).* in [0-9.]+s' "$OUT/pytest.log" \
    | tail -n 1 | sed -E 's/^=+ //; s/ =+$//' || true)
record "pytest" "$t"

# ---------------------------------------------------------------- 6. 2 epochs: arm64 vs x86 generic
COMPARE_RC=0
COMPARE_NOTE="skipped (--no-compare)"
if [ "$COMPARE" = 1 ]; then
    TRAIN="python -m native.train --epochs 2 --limit 2000 --offline"
    t=$(now)
    say "6a. 2 epochs on arm64: default path ($SIMD) and BACKPROP_FORCE_GENERIC=1"
    in_chroot "$TRAIN --save /root/out/arm64-default.npz" || die "training on arm64 failed"
    in_chroot "BACKPROP_FORCE_GENERIC=1 $TRAIN --save /root/out/arm64-generic.npz" \
        || die "training on arm64 (generic) failed"
    cp "$ROOTFS"/root/out/arm64-*.npz "$OUT/"
    record "train 2 epochs on arm64 (x2)" "$t"

    t=$(now)
    say "6b. the same on x86-64 with BACKPROP_FORCE_GENERIC=1 (a copy in $X86)"
    copy_tree "$X86/project"
    mkdir -p "$X86/pip-cache"
    (
        cd "$X86/project"
        export PIP_CACHE_DIR=$X86/pip-cache
        [ -x "$X86/venv/bin/python" ] || python3 -m venv "$X86/venv"
        # shellcheck disable=SC1091
        . "$X86/venv/bin/activate"
        python -m pip install -q -e . > "$OUT/x86-pip-install.log" 2>&1 \
            || { tail -n 30 "$OUT/x86-pip-install.log" >&2; exit 1; }
        BACKPROP_FORCE_GENERIC=1 python -c "import native.kernels as k; print('   x86 path:', k.simd_path())"
        BACKPROP_FORCE_GENERIC=1 $TRAIN --save "$OUT/x86-generic.npz"
    ) || die "the x86 comparison build or run failed"
    record "x86 build + train 2 epochs (generic)" "$t"

    say "6c. arm64 generic vs x86 generic (expected: bit-identical)"
    XPY=$X86/venv/bin/python
    ident=()
    [ "$REQUIRE_IDENTITY" = 1 ] && ident=(--require-identical)
    set +e
    "$XPY" "$SCRIPT_DIR/compare_checkpoints.py" "${ident[@]}" \
        "$OUT/arm64-generic.npz" "$OUT/x86-generic.npz" | tee "$OUT/compare-generic.txt"
    COMPARE_RC=${PIPESTATUS[0]}
    set -e
    COMPARE_NOTE="arm64 generic vs x86 generic: $(tail -n 1 "$OUT/compare-generic.txt")"
    if [ "$SIMD" != generic ]; then
        say "6d. arm64 $SIMD vs x86 generic (may differ in the last bits)"
        "$XPY" "$SCRIPT_DIR/compare_checkpoints.py" \
            "$OUT/arm64-default.npz" "$OUT/x86-generic.npz" | tee "$OUT/compare-default.txt" || true
        COMPARE_NOTE+="; arm64 $SIMD vs x86 generic: $(tail -n 1 "$OUT/compare-default.txt")"
    fi
fi

# ---------------------------------------------------------------- result
summary | tee "$OUT/summary.txt"
{
    echo "date:        $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "project:     $PROJECT$(git -C "$PROJECT" rev-parse --short HEAD 2>/dev/null | sed 's/^/ @ /')"
    echo "arm64:       $VERSIONS"
    echo "simd_path:   $SIMD"
    echo "pytest:      ${PYTEST_LINE:-no summary line} (exit $PYTEST_RC)"
    echo "2 epochs:    $COMPARE_NOTE"
} | tee -a "$OUT/summary.txt"
echo "logs: $OUT"
if [ "$PYTEST_RC" != 0 ]; then
    exit "$PYTEST_RC"
fi
if [ "$COMPARE_RC" != 0 ]; then
    echo "run_suite.sh: the generic path on arm64 is not bit-identical to x86's (see above)" >&2
    exit 4
fi
exit 0

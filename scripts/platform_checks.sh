#!/usr/bin/env bash
# platform_checks.sh — the C kernels beyond GCC on x86-64, checked on this machine:
#   1. the C kernel test driver (tests/c/test_kernels.c: every kernel of every path the
#      CPU runs against a naive reference, guard values around every output) built with
#      GCC and with clang, run natively;
#   2. a clang build of the Python extension (CC=clang pip wheel of a copy of the tree):
#      it must run the same SIMD path as the GCC build, and the kernel, sparse and
#      cross-implementation tests must pass on it;
#   3. arm64: the C sources cross-compiled with aarch64-linux-gnu-gcc and the project's
#      own flags, `objdump -d` showing vector FMAs (fmla) in the GEMM and sparse kernels,
#      and the C driver run under qemu-aarch64 (the NEON and generic paths);
#   4. Windows: every C source cross-compiled with mingw-w64 (x86_64-w64-mingw32-gcc),
#      and the C driver linked into an .exe (not run: no Windows here).
# Needs: clang, libomp-dev, gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user,
# gcc-mingw-w64-x86-64 — installed with apt-get when run as root; otherwise a check whose
# tool is missing is reported as SKIPPED, saying which package it needs. Under CI=true
# (or BACKPROP_PLATFORM_STRICT=1) a skipped check fails the script.
#
#   bash scripts/platform_checks.sh            # from the project root, Python env active
#
# Ends with "N passed, N failed" (checks, not tests) and exits 1 if any failed.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/platform_checks.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
FLAGS="-O3 -std=c99 -fno-trapping-math -ffp-contract=off"   # build_ffi.py's, GCC/clang family
WARN="-Wall -Wextra -Werror"
STRICT=0
[ "${CI:-}" = "true" ] || [ "${BACKPROP_PLATFORM_STRICT:-}" = "1" ] && STRICT=1
passed=0 failed=0 skipped=0

pass() { echo "ok - $1"; passed=$((passed + 1)); }
fail() { echo "not ok - $1"; failed=$((failed + 1)); }
skip() {
    echo "SKIPPED - $1"
    skipped=$((skipped + 1))
    [ "$STRICT" = 1 ] && fail "(strict: a skipped check counts as failed) $1"
}
have() { command -v "$1" >/dev/null 2>&1; }

# --- tools -------------------------------------------------------------------------------
need_pkgs=()
have clang || need_pkgs+=(clang)
[ -e /usr/include/omp.h ] || ls /usr/lib/llvm-*/lib/clang/*/include/omp.h >/dev/null 2>&1 || need_pkgs+=(libomp-dev)
have aarch64-linux-gnu-gcc || need_pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
have aarch64-linux-gnu-objdump || need_pkgs+=(binutils-aarch64-linux-gnu)
have qemu-aarch64 || have qemu-aarch64-static || need_pkgs+=(qemu-user)
have x86_64-w64-mingw32-gcc || need_pkgs+=(gcc-mingw-w64-x86-64)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && have apt-get; then
        echo "# installing with apt-get: ${need_pkgs[*]}"
        { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
              -o DPkg::Lock::Timeout=600 "${need_pkgs[@]}"; } >"$WORK/apt.log" 2>&1 \
            || { echo "# apt-get failed (last lines below); the checks that need these are skipped"; tail -5 "$WORK/apt.log"; }
    else
        echo "# not root (or no apt-get): cannot install ${need_pkgs[*]}; the checks that need them are skipped"
    fi
fi
QEMU=$(command -v qemu-aarch64 || command -v qemu-aarch64-static || true)

# --- 1. the C driver, natively, GCC and clang ------------------------------------------
# Each toolchain compiles the C sources once (the project's flags, OpenMP on, warnings as
# errors), and the driver links against those objects.
objects() {  # objects CC TAG: native/csrc/*.c -> $WORK/TAG_*.o; log in $WORK/TAG.log
    local cc=$1 tag=$2 f ok=0
    for f in native/csrc/*.c; do
        $cc $FLAGS -fopenmp $WARN -c "$f" -o "$WORK/${tag}_$(basename "$f" .c).o" >>"$WORK/$tag.log" 2>&1 || ok=1
    done
    return $ok
}
driver() {  # driver CC TAG OUT: tests/c/test_kernels.c linked with TAG's objects
    local cc=$1 tag=$2 out=$3
    $cc $FLAGS $WARN -fopenmp -Inative/csrc tests/c/test_kernels.c "$WORK/${tag}"_*.o -lm -o "$out" \
        >>"$WORK/$tag.log" 2>&1
}
for cc in gcc clang; do
    if ! have $cc; then skip "C kernel tests with $cc: $cc is not installed (apt-get install $cc)"; continue; fi
    if objects $cc $cc && driver $cc $cc "$WORK/tk_$cc"; then
        "$WORK/tk_$cc" >"$WORK/tk_$cc.out" 2>&1
        rc=$?
        summary=$(tail -1 "$WORK/tk_$cc.out"); paths=$(grep '^paths tested' "$WORK/tk_$cc.out")
        if [ $rc = 0 ]; then pass "C kernel tests, $cc, native: $summary ($paths)"
        else grep '^not ok' "$WORK/tk_$cc.out" | head -10; fail "C kernel tests, $cc, native: $summary"; fi
    else
        tail -20 "$WORK/$cc.log"; fail "C kernel tests, $cc: the sources or the driver do not compile"
    fi
done

# --- 2. the Python extension built by clang --------------------------------------------
if ! have clang; then
    skip "clang build of the extension: clang is not installed (apt-get install clang libomp-dev)"
elif ! "$PY" -c "import numpy, cffi, pytest" 2>/dev/null; then
    skip "clang build of the extension: $PY lacks numpy, cffi or pytest (activate the project's environment)"
else
    mkdir -p "$WORK/clang"
    git ls-files -z 2>/dev/null | tar --null -cf - -T - | tar -xf - -C "$WORK/clang" 2>/dev/null \
        || cp -r native tests build_ffi.py setup.py pyproject.toml pure "$WORK/clang/"
    # CC=clang pip builds a wheel of the copy (isolated build env, as `pip install` does);
    # its compiled module goes next to the copy's sources, which the tests then import.
    if (cd "$WORK/clang" && CC=clang "$PY" -m pip wheel -q --no-deps -w "$WORK/wheel" . \
            && "$PY" -c "import glob, sys, zipfile; z = zipfile.ZipFile(glob.glob(sys.argv[1] + '/*.whl')[0]); [z.extract(n, '.') for n in z.namelist() if n.startswith('native/_kernels')]" "$WORK/wheel") \
            >"$WORK/clang_build.log" 2>&1; then
        gcc_path=$(cd /tmp && "$PY" -c "import sys; sys.path.insert(0, '$ROOT'); from native import kernels as k; print(k.simd_path())" 2>/dev/null)
        clang_path=$(cd /tmp && PYTHONPATH="$WORK/clang" "$PY" -c "from native import kernels as k; print(k.simd_path(), k.__file__)")
        echo "# the GCC build (this tree) runs: ${gcc_path:-?}; the clang build: $clang_path"
        case "$clang_path" in
            "$WORK/clang"*) ;;
            *"$WORK/clang/"*) ;;
            *) fail "clang build: imported from elsewhere: $clang_path" ;;
        esac
        if [ -n "$gcc_path" ] && [ "${clang_path%% *}" = "$gcc_path" ]; then
            pass "clang build runs the GCC build's SIMD path: ${clang_path%% *}"
        elif [ -z "$gcc_path" ]; then
            skip "clang build's path (${clang_path%% *}) not compared: this tree's GCC build does not import (pip install -e . first)"
        else
            fail "clang build runs ${clang_path%% *}, the GCC build $gcc_path"
        fi
        if (cd "$WORK/clang" && PYTHONPATH="$WORK/clang" "$PY" -m pytest -q -x -p no:cacheprovider \
                tests/test_kernels.py tests/test_sparse.py tests/test_cross_impl.py) >"$WORK/clang_tests.log" 2>&1; then
            pass "clang build: kernel, sparse and cross-implementation tests: $(tail -1 "$WORK/clang_tests.log")"
        else
            tail -25 "$WORK/clang_tests.log"; fail "clang build: kernel, sparse and cross-implementation tests"
        fi
    else
        tail -20 "$WORK/clang_build.log"; fail "clang build of the extension (CC=clang pip wheel)"
    fi
fi

# --- 3. arm64: cross-compile, fmla in the kernels, the C driver under qemu --------------
if ! have aarch64-linux-gnu-gcc; then
    skip "arm64 checks: aarch64-linux-gnu-gcc is not installed (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross)"
else
    if objects aarch64-linux-gnu-gcc a64; then
        pass "arm64: every C source compiles with aarch64-linux-gnu-gcc $FLAGS -fopenmp, no warning"
    else
        tail -20 "$WORK/a64.log"; fail "arm64: cross-compile of the C sources"
    fi
    if have aarch64-linux-gnu-objdump && [ -e "$WORK/a64_kernels_neon.o" ]; then
        aarch64-linux-gnu-objdump -d "$WORK/a64_kernels_neon.o" >"$WORK/neon.dis"
        # vector fmla (on .4s / .2d lanes) per function
        counts=$(awk '/^[0-9a-f]+ <.*>:$/ { fn = $2 } /\tfmla\t/ && /\.(4s|2d)/ { n[fn]++ }
                      END { for (f in n) printf "%s=%d ", f, n[f] }' "$WORK/neon.dis")
        echo "# fmla per function in kernels_neon.o: $counts"
        missing=""
        for fn in gemm_neon_f32 gemm_neon_f64 sp_mm_f32_neon sp_mm_f64_neon sp_mm_t_acc_f32_neon sp_mm_t_acc_f64_neon; do
            echo "$counts" | grep -q "<$fn>:=[1-9]" || missing="$missing $fn"
        done
        if [ -z "$missing" ]; then pass "arm64: vector fmla in the NEON GEMM and sparse kernels"
        else fail "arm64: no vector fmla in:$missing"; fi
    else
        skip "arm64 objdump: aarch64-linux-gnu-objdump missing (apt-get install binutils-aarch64-linux-gnu)"
    fi
    if [ -z "$QEMU" ]; then
        skip "arm64 C kernel tests: qemu-aarch64 is not installed (apt-get install qemu-user)"
    elif driver aarch64-linux-gnu-gcc a64 "$WORK/tk_a64"; then
        "$QEMU" -L /usr/aarch64-linux-gnu "$WORK/tk_a64" >"$WORK/tk_a64.out" 2>&1
        rc=$?
        summary=$(tail -1 "$WORK/tk_a64.out"); paths=$(grep '^paths tested' "$WORK/tk_a64.out")
        if [ $rc = 0 ] && grep -q '^ok - path neon' "$WORK/tk_a64.out"; then
            pass "arm64 C kernel tests under qemu-aarch64: $summary ($paths)"
        else
            grep '^not ok' "$WORK/tk_a64.out" | head -10; fail "arm64 C kernel tests under qemu-aarch64: $summary"
        fi
    else
        tail -20 "$WORK/a64.log"; fail "arm64: the C driver does not cross-compile"
    fi
fi

# --- 4. Windows: mingw-w64 cross-compile -----------------------------------------------
if ! have x86_64-w64-mingw32-gcc; then
    skip "Windows cross-compile: x86_64-w64-mingw32-gcc is not installed (apt-get install gcc-mingw-w64-x86-64)"
else
    if objects x86_64-w64-mingw32-gcc w64 && driver x86_64-w64-mingw32-gcc w64 "$WORK/tk.exe"; then
        pass "Windows: every C source compiles with x86_64-w64-mingw32-gcc $FLAGS -fopenmp, no warning; the C driver links (tk.exe, not run here)"
    else
        tail -20 "$WORK/w64.log"; fail "Windows: mingw-w64 cross-compile"
    fi
fi

echo "# platform checks: $skipped skipped"
echo "$passed passed, $failed failed"
[ $failed = 0 ]

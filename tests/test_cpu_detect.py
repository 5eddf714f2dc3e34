"""SIMD path detection with made-up CPUs (kernels_select.c's bp_x86_features, a pure
function of the CPUID and XCR0 values), and every documented value of every path switch,
"off" included ("0", "" and unset), each in a fresh process (the choice is made once)."""
import os
import subprocess
import sys

import pytest

from native import kernels as kern

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FMA, OSXSAVE, AVX = 1 << 12, 1 << 27, 1 << 28          # leaf 1 ECX
AVX2, AVX512F = 1 << 5, 1 << 16                        # leaf 7 EBX
XMM_YMM, ZMM = 0x6, 0xE6                               # XCR0 state bits
ECX_OK = FMA | OSXSAVE | AVX

# (name, max leaf, leaf-1 ECX, leaf-7 EBX, XCR0, expected: 0 none, 1 AVX2+FMA, 2 AVX-512F)
CPUS = [
    ("Skylake-SP, AVX-512 enabled", 0x16, ECX_OK, AVX2 | AVX512F, 0x2E7, 2),
    ("Haswell: AVX2 + FMA", 0xD, ECX_OK, AVX2, 0x7, 1),
    ("Sandy Bridge: AVX, no AVX2", 0xD, FMA | OSXSAVE | AVX, 0, 0x7, 0),
    ("AVX2 without FMA", 0xD, OSXSAVE | AVX, AVX2, 0x7, 0),
    ("AVX2, OS without XSAVE (OSXSAVE 0)", 0xD, FMA | AVX, AVX2, 0x0, 0),
    ("AVX2, OS saves XMM only", 0xD, ECX_OK, AVX2, 0x3, 0),
    ("AVX2, OS saves YMM but not XMM", 0xD, ECX_OK, AVX2, 0x4, 0),
    ("AVX-512F without ZMM state (old kernel)", 0x16, ECX_OK, AVX2 | AVX512F, 0x7, 1),
    ("AVX-512F, opmask but no upper ZMM", 0x16, ECX_OK, AVX2 | AVX512F, 0x67, 1),
    ("AVX-512F without AVX2 bit", 0x16, ECX_OK, AVX512F, 0xE7, 0),
    ("max leaf 6: leaf 7 absent", 0x6, ECX_OK, AVX2 | AVX512F, 0xE7, 0),
    ("AVX bit missing", 0xD, FMA | OSXSAVE, AVX2, 0x7, 0),
    # neighbours of the right bits: a test reading a wrong bit would pass these as AVX2
    ("bit 4 of EBX7 (HLE), not AVX2", 0xD, ECX_OK, 1 << 4, 0x7, 0),
    ("bit 6 of EBX7, not AVX2", 0xD, ECX_OK, 1 << 6, 0x7, 0),
    ("bit 17 of EBX7 (AVX512DQ), not AVX-512F", 0x16, ECX_OK, AVX2 | (1 << 17), 0xE7, 1),
    ("bit 11 of ECX1, not FMA", 0xD, (1 << 11) | OSXSAVE | AVX, AVX2, 0x7, 0),
    ("bit 26 of ECX1 (XSAVE), not OSXSAVE", 0xD, FMA | (1 << 26) | AVX, AVX2, 0x7, 0),
    ("every bit set", 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 2 ** 64 - 1, 2),
    ("no bit set", 0, 0, 0, 0, 0),
]


@pytest.mark.parametrize("name,leaf,ecx1,ebx7,xcr0,want", CPUS, ids=[c[0] for c in CPUS])
def test_detection_on_a_table_of_made_up_cpus(name, leaf, ecx1, ebx7, xcr0, want):
    assert kern.lib.bp_x86_features(leaf, ecx1, ebx7, xcr0) == want, name


def granted(env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_")}
    clean.update(env, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-c", "from native import kernels as k; print(k.simd_path())"],
                       cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture(scope="module")
def best():
    return granted({})


SWITCH_VALUES = [("1", True), ("yes", True), ("true", True), ("0", False), ("", False),
                 ("false", False), ("No", False), (" 0 ", False)]


@pytest.mark.parametrize("value,on", SWITCH_VALUES)
def test_force_generic_takes_every_documented_value(best, value, on):
    assert granted({"BACKPROP_FORCE_GENERIC": value}) == ("generic" if on else best)


@pytest.mark.parametrize("value,on", SWITCH_VALUES)
def test_no_avx512_takes_every_documented_value(best, value, on):
    if best != "avx512":
        pytest.skip(f"this CPU's best path is {best}: BACKPROP_NO_AVX512 has nothing to turn off")
    assert granted({"BACKPROP_NO_AVX512": value}) == ("avx2-fma" if on else "avx512")


@pytest.mark.parametrize("value,on", SWITCH_VALUES)
def test_offline_switch_takes_the_same_values(value, on, monkeypatch):
    from native.data.sources import env_flag
    monkeypatch.setenv("BACKPROP_OFFLINE", value)
    assert env_flag("BACKPROP_OFFLINE") is on


@pytest.mark.parametrize("value,on", SWITCH_VALUES)
def test_the_builds_no_openmp_switch_takes_the_same_values(value, on, monkeypatch):
    import importlib.util
    spec = importlib.util.spec_from_file_location("build_ffi_probe", os.path.join(ROOT, "build_ffi.py"))
    src = open(os.path.join(ROOT, "build_ffi.py"), encoding="utf-8").read()
    head = src[:src.index("\nFLAGS = {")]          # the helpers only: no build at import
    ns = {"__file__": os.path.join(ROOT, "build_ffi.py"), "__name__": "build_ffi_probe"}
    exec(compile(head, spec.origin, "exec"), ns)
    monkeypatch.setenv("BACKPROP_NO_OPENMP", value)
    probed = []
    monkeypatch.setattr(ns["subprocess"], "run", lambda *a, **k: probed.append(a) or
                        type("R", (), {"returncode": 0})())
    flags = ns["_openmp_flags"]("gcc")
    assert (flags == []) is on and bool(probed) is not on

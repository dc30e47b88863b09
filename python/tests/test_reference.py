"""Tests of python/mha's pure-Python parts: the key-visibility rule against
a transcription of the C++ reference's (lib/Reference/AttentionReference.cpp),
the float64 reference against a scalar loop, the per-head parameters, the
ctypes DLPack structs and the ctypes library helper the benchmarks use
(mha._library, on a library compiled here with mha.compile).

    pytest python/tests      (the installed package, docs/python.md)
"""
import ctypes
import math
import random
import unittest

import numpy as np

import mha
from mha import _dlpack, reference, semantics
from mha._library import Library, MhaError
from conftest import attention_spec

# The benchmark's mha_d64_causal (bench/gen_specs.py): [?, 16, ?, 64] f32.
BENCH_SPEC = attention_spec("mha_d64_causal", 16, 16, 64, attrs="causal", lse=False)


def cpp_is_visible(causal, sinks, wl, wr, lq, lk, i, j):
    """AttentionProblem::isVisible, line for line."""
    p = i + lk - lq
    if causal and j > p:
        return False
    if j < sinks:
        return True
    if wl >= 0 and j < p - wl:
        return False
    if wr >= 0 and j > p + wr:
        return False
    return True


def scalar_attention(q, k, v, P):
    """computeAttention of the C++ reference, with Python floats."""
    B, hq, lq, _ = q.shape
    hkv, lk, dv = k.shape[1], k.shape[2], v.shape[3]
    g = hq // hkv
    o = np.zeros((B, hq, lq, dv))
    lse = np.full((B, hq, lq), -np.inf)
    for b in range(B):
        for h in range(hq):
            if not P["head_mask"][h]:
                continue
            for i in range(lq):
                s, vis = [], []
                for j in range(lk):
                    x = float(q[b, h, i] @ k[b, h // g, j]) * P["scale"] / P["temperature"][h]
                    if P["softcap"] is not None:
                        x = P["softcap"] * math.tanh(x / P["softcap"])
                    x -= P["alibi_slopes"][h] * abs(i + lk - lq - j)
                    s.append(x)
                    vis.append(cpp_is_visible(P["causal"], P["sink_tokens"],
                                              P["window_left"][h], P["window_right"][h],
                                              lq, lk, i, j))
                if not any(vis):
                    continue
                m = max(x for x, ok in zip(s, vis) if ok)
                total = sum(math.exp(x - m) for x, ok in zip(s, vis) if ok)
                lse[b, h, i] = m + math.log(total)
                for j in range(lk):
                    if vis[j]:
                        o[b, h, i] += math.exp(s[j] - lse[b, h, i]) * v[b, h // g, j]
    return o, lse


class KeyVisibility(unittest.TestCase):
    def test_matches_cpp_rule(self):
        rnd = random.Random(1)
        for _ in range(200):
            lq, lk = rnd.randint(1, 30), rnd.randint(1, 30)
            causal = rnd.random() < 0.5
            sinks = rnd.choice([0, 0, 1, 3])
            wl, wr = rnd.choice([-1, 0, 2, 7]), rnd.choice([-1, 0, 3])
            m = reference.mask(lq, lk, causal, wl, wr, sinks)
            for i in range(lq):
                for j in range(lk):
                    want = cpp_is_visible(causal, sinks, wl, wr, lq, lk, i, j)
                    self.assertEqual(bool(m[i, j]), want)
                    self.assertEqual(bool(semantics.key_visible(i, j, lq, lk, causal, wl, wr,
                                                                sinks)), want)
            self.assertEqual(reference.visible_pairs(lq, lk, causal, wl, wr, sinks),
                             int(m.sum()))

    def test_per_head_arrays_and_head_mask(self):
        p = semantics.normalise({"causal": True, "window_left": [-1, 2, 0],
                                 "sink_tokens": 1, "head_mask": [True, True, False]}, 3, 8)
        vis = reference.visibility(p, 3, 5, 7)
        for h in range(3):
            for i in range(5):
                for j in range(7):
                    want = p["head_mask"][h] and cpp_is_visible(
                        True, 1, p["window_left"][h], -1, 5, 7, i, j)
                    self.assertEqual(bool(vis[h, i, j]), want)
        # Runtime head mask: 0 ablates.
        self.assertFalse(reference.visibility(p, 3, 5, 7, [1, 0, 1])[1].any())


class Attention(unittest.TestCase):
    def test_every_attribute(self):
        rng = np.random.default_rng(0)
        attrs = {"causal": True, "scale": 0.2, "temperature": [2.0, 0.5, 1.0, 1.5],
                 "softcap": 3.0, "window_left": [-1, 5, 3, -1], "window_right": [2, -1, -1, 0],
                 "sink_tokens": 1, "alibi_slopes": [0.1, 0, 0.3, 0.05],
                 "head_mask": [True, True, False, True]}
        P = semantics.normalise(attrs, 4, 8)
        for lq, lk in ((9, 13), (13, 9), (11, 11)):
            q = rng.standard_normal((2, 4, lq, 8))
            k = rng.standard_normal((2, 2, lk, 8))
            v = rng.standard_normal((2, 2, lk, 6))
            o, lse, alive = reference.attention(q, k, v, P)
            o2, lse2 = scalar_attention(q, k, v, P)
            np.testing.assert_allclose(o, o2, atol=1e-12)
            np.testing.assert_array_equal(np.isneginf(lse), np.isneginf(lse2))
            fin = np.isfinite(lse2)
            np.testing.assert_allclose(lse[fin], lse2[fin], rtol=1e-12)
            self.assertEqual(alive.tolist(), attrs["head_mask"])

    def test_bf16_round_trip(self):
        x = np.array([1.0, -2.5, 3.14159, 1e-3], dtype=np.float32)
        y = reference.bf16_bits_to_f32(reference.f32_to_bf16_bits(x))
        np.testing.assert_allclose(y, x, rtol=2 ** -8)


class Parameters(unittest.TestCase):
    def test_defaults_and_expansion(self):
        p = semantics.normalise({"window_left": [4]}, 3, 64)
        self.assertEqual(p["scale"], semantics.f32(0.125))
        self.assertEqual(p["window_left"], [4, 4, 4])
        self.assertEqual(p["window_right"], [-1, -1, -1])
        self.assertEqual(p["head_mask"], [True] * 3)
        with self.assertRaises(ValueError):
            semantics.normalise({"window_left": [1, 2]}, 3, 64)
        with self.assertRaises(ValueError):
            semantics.normalise({"windw_left": [1]}, 3, 64)

    def test_attr_text(self):
        self.assertEqual(semantics.attr_text({"causal": True, "window_left": [256, -1]}),
                         ["causal", "window_left = array<i64: 256, -1>"])


class DLPack(unittest.TestCase):
    def test_from_numpy_strided(self):
        a = np.zeros((2, 3, 4), np.float32).transpose(1, 0, 2)
        t = _dlpack.from_numpy(a)
        self.assertEqual([t.shape[i] for i in range(3)], [3, 2, 4])
        self.assertEqual([t.strides[i] for i in range(3)], [4, 12, 1])
        self.assertEqual((t.dtype.code, t.dtype.bits), (_dlpack.KDL_FLOAT, 32))
        b = _dlpack.from_numpy(np.zeros(4, np.uint16), "bf16")
        self.assertEqual((b.dtype.code, b.dtype.bits), (_dlpack.KDL_BFLOAT, 16))

    def test_options_and_status(self):
        o = _dlpack.options(2, None, [1, 0, 1])
        self.assertEqual(o.num_threads, 2)
        self.assertEqual([o.head_mask[i] for i in range(3)], [1, 0, 1])
        self.assertEqual(_dlpack.status_name(4), "MHA_ERR_SHAPE")
        self.assertEqual(_dlpack.MHA_ERR_DEVICE, 5)
        # The ctypes mirror is a prefix of the layout of the header the
        # package was built against (include/mha/runtime.h): a library reads
        # only the fields that the caller's struct_size covers.
        from mha import _native
        self.assertLessEqual(ctypes.sizeof(_dlpack.MhaOptions), _native.OPTIONS_SIZE)
        for name, offset in _native.OPTIONS_LAYOUT.items():
            self.assertEqual(getattr(_dlpack.MhaOptions, name).offset, offset, name)
        self.assertEqual(o.struct_size, ctypes.sizeof(_dlpack.MhaOptions))


class GeneratedLibrary(unittest.TestCase):
    """mha_d64_causal of bench/gen_specs.py: [?, 16, ?, 64] f32, causal,
    compiled by mha.compile and called through the ctypes helper."""

    @classmethod
    def setUpClass(cls):
        global BENCH_LIB
        BENCH_LIB = mha.compile(BENCH_SPEC).path

    def test_call_matches_reference(self):
        lib = Library(BENCH_LIB)
        rng = np.random.default_rng(0)
        q, k, v = (rng.standard_normal((1, 16, 40, 64), dtype=np.float32) for _ in range(3))
        o = np.zeros_like(q)
        lib.function("mha_d64_causal", 4)(q, k, v, o, num_threads=1)
        ref, _, _ = reference.attention(q, k, v, semantics.normalise({"causal": True}, 16, 64))
        self.assertLess(reference.rel_err(o, ref), 1e-5)

    def test_error_names_status_and_message(self):
        lib = Library(BENCH_LIB)
        q = np.zeros((1, 16, 8, 64), np.float32)
        k = np.zeros((1, 16, 7, 64), np.float32)   # k shorter than v
        v = np.zeros((1, 16, 8, 64), np.float32)
        o = np.full_like(q, 7.0)
        with self.assertRaises(MhaError) as cm:
            lib.function("mha_d64_causal", 4)(q, k, v, o)
        self.assertEqual(cm.exception.status, _dlpack.MHA_ERR_SHAPE)
        self.assertEqual(cm.exception.status_name, "MHA_ERR_SHAPE")
        self.assertTrue(cm.exception.message)
        self.assertTrue((o == 7.0).all())          # no output byte written


if __name__ == "__main__":
    unittest.main()


# Every score attribute at once, GQA 4:2, Lq != Lk (and rows past the
# diagonal that see no key), D != Dv, one head pruned: the GPU check's
# gradient reference (reference.attention_backward) against the CPU
# library's f32 backward, which its own tests hold to the C++ float64
# backward (1e-4).
BACKWARD_ATTRS = dict(causal=True, temperature=[1.0, 0.5, 2.0, 1.5], softcap=7.0,
                      alibi_slopes=[0.3, 0.0, 0.1, 0.05], window_left=[5, -1, 9, -1],
                      sink_tokens=2, head_mask=[True, True, False, True])


def test_attention_backward_matches_the_library():
    from conftest import attention_spec as spec
    lib = mha.compile(spec("grad", 4, 2, 16, dv=24, attrs=", ".join(
        semantics.attr_text(BACKWARD_ATTRS)), backward=True))
    rng = np.random.default_rng(5)
    B, lq, lk = 2, 23, 17
    q = rng.standard_normal((B, 4, lq, 16)).astype(np.float32)
    k = rng.standard_normal((B, 2, lk, 16)).astype(np.float32)
    v = rng.standard_normal((B, 2, lk, 24)).astype(np.float32)
    dout = rng.standard_normal((B, 4, lq, 24)).astype(np.float32)
    o = np.zeros((B, 4, lq, 24), np.float32)
    lse = np.zeros((B, 4, lq), np.float32)
    L = Library(lib.path)
    L.function("grad", 5)(q, k, v, o, lse)
    grads = [np.full(x.shape, np.nan, np.float32) for x in (q, k, v)]
    L.function("grad_backward", 9)(q, k, v, o, lse, dout, *grads)
    params = semantics.normalise(BACKWARD_ATTRS, 4, 16)
    ref = reference.attention_backward(q, k, v, dout, params)
    for ours, want in zip(grads, ref):
        assert reference.rel_err(ours, want) < 1e-4
    # The pruned head's rows of dq are zero in both.
    assert not ref[0][:, 2].any() and not grads[0][:, 2].any()

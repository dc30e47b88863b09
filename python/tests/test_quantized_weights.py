"""Layers with int8 and int4 weights (mha.quantized, docs/language.md 5.5):
the compiled layer against the same layer with the dequantized float
weights (and the unquantized ones), mha.quantize.weight (per column and per
group of rows, int4 packing), and the errors bad scales raise.

    pytest python/tests/test_quantized_weights.py
"""
import numpy as np
import pytest

import mha
from mha import quantize

D_MODEL, HQ, HKV, DH = 48, 4, 2, 12


GROUP = 16  # Rows per scale of the int4 weights.


def spec(kind):
    """The layer with f32 weights, int8 Wq and Wo (column scales), or int4
    Wq and Wo (scales per GROUP rows)."""
    x = f"tensor<?x?x{D_MODEL}xf32>"
    wq = f"tensor<{D_MODEL}x{HQ * DH}xf32>"
    wkv = f"tensor<{D_MODEL}x{HKV * DH}xf32>"
    wo = f"tensor<{HQ * DH}x{D_MODEL}xf32>"
    if kind == "f32":
        args = f"%x: {x}, %wq: {wq}, %wk: {wkv}, %wv: {wkv}, %wo: {wo}"
        body = ""
    else:
        int4 = kind == "int4"
        cols = 2 if int4 else 1
        q8 = f"tensor<{D_MODEL}x{HQ * DH // cols}xi8>"
        o8 = f"tensor<{HQ * DH}x{D_MODEL // cols}xi8>"
        sq = (f"tensor<{D_MODEL // GROUP}x{HQ * DH}xf32>" if int4
              else f"tensor<{HQ * DH}xf32>")
        so = (f"tensor<{HQ * DH // GROUP}x{D_MODEL}xf32>" if int4
              else f"tensor<{D_MODEL}xf32>")
        bits = " {bits = 4}" if int4 else ""
        args = (f"%x: {x}, %wq8: {q8}, %sq: {sq}, %wk: {wkv}, "
                f"%wv: {wkv}, %wo8: {o8}, %so: {so}")
        body = (f"%wq = mha.quantized %wq8, %sq{bits} : {q8}, {sq} -> {wq}\n"
                f"  %wo = mha.quantized %wo8, %so{bits} : {o8}, {so} -> {wo}\n  ")
    return f"""
func.func @layer_{kind}({args}) -> {x} {{
  {body}%y = mha.multi_head %x, %wq, %wk, %wv, %wo {{num_heads = {HQ},
         num_kv_heads = {HKV}, rope_theta = 10000.0 : f32, causal}}
      : {x}, {wq}, {wkv}, {wkv}, {wo} -> {x}
  return %y : {x}
}}
"""


@pytest.fixture(scope="module")
def libs():
    return mha.compile(spec("int8")), mha.compile(spec("f32"))


@pytest.fixture(scope="module")
def lib4():
    return mha.compile(spec("int4"))


def test_weight_quantization_rounds_per_column():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((20, 7)).astype(np.float32)
    w[:, 3] = 0.0
    q, scale = quantize.weight(w)
    assert q.dtype == np.int8 and scale.dtype == np.float32 and scale.shape == (7,)
    assert scale[3] == 1.0 and not q[:, 3].any()
    assert np.abs(q).max() == 127
    err = np.abs(quantize.dequantize_weight(q, scale) - w).max(axis=0)
    assert np.all(err <= scale / 2 + 1e-7)


def random_layer(seed, rows=19):
    """x and the float weights wq, wk, wv, wo of the test layer."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, rows, D_MODEL)).astype(np.float32)

    def w(rows, cols):
        return (rng.standard_normal((rows, cols)) / np.sqrt(rows)).astype(np.float32)
    return x, w(D_MODEL, HQ * DH), w(D_MODEL, HKV * DH), w(D_MODEL, HKV * DH), \
        w(HQ * DH, D_MODEL)


# int8 with column scales, int4 in groups of GROUP rows: against the same
# layer with the dequantized weights, equal to float32 rounding where the
# weights are widened and within the rounding of x and O to int8 rows on
# AVX512-VNNI CPUs (mha-run checks that path exactly against its float64
# model: int8-weights.mlir, int4-weights.mlir); against the unquantized
# layer, within the weights' own rounding (int4: 7 levels a side, ~10%).
@pytest.mark.parametrize("kind,bits,group,bound", [
    ("int8", 8, None, 3e-2), ("int4", 4, GROUP, 0.25)])
def test_quantized_layer_equals_the_dequantized_layer(libs, lib4, kind, bits, group,
                                                      bound):
    lib = libs[0] if kind == "int8" else lib4
    lib32 = libs[1]
    x, wq, wk, wv, wo = random_layer(1 if kind == "int8" else 4, 19 if kind == "int8" else 23)
    q, sq = quantize.weight(wq, bits=bits, group_size=group)
    o, so = quantize.weight(wo, bits=bits, group_size=group)
    yq = getattr(lib, f"layer_{kind}")(x, q, sq, wk, wv, o, so)
    deq = [quantize.dequantize_weight(a, s, bits=bits).astype(np.float32)
           for a, s in ((q, sq), (o, so))]
    y32 = lib32.layer_f32(x, deq[0], wk, wv, deq[1])
    assert np.linalg.norm(yq - y32) / np.linalg.norm(y32) < 2e-2
    y = lib32.layer_f32(x, wq, wk, wv, wo)
    assert np.linalg.norm(yq - y) / np.linalg.norm(y) < bound


@pytest.mark.parametrize("bad,text", [
    (0.0, r"'wq_scale'\[5\] is 0 but the scales of a quantized weight must be finite and > 0"),
    (np.nan, r"'wq_scale'\[5\] is nan"),
    (np.inf, r"'wq_scale'\[5\] is inf"),
    (-1.0, r"'wq_scale'\[5\] is -1"),
])
def test_bad_scales_are_errors(libs, bad, text):
    lib8, _ = libs
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 5, D_MODEL)).astype(np.float32)
    q8 = rng.integers(-127, 128, (D_MODEL, HQ * DH), dtype=np.int8)
    o8 = rng.integers(-127, 128, (HQ * DH, D_MODEL), dtype=np.int8)
    sq = np.full(HQ * DH, 0.01, np.float32)
    so = np.full(D_MODEL, 0.01, np.float32)
    wkv = np.zeros((D_MODEL, HKV * DH), np.float32)
    sq[5] = bad
    with pytest.raises(mha.Error, match=text):
        lib8.layer_int8(x, q8, sq, wkv, wkv, o8, so)


def test_wrong_scale_shape_is_an_error(libs):
    lib8, _ = libs
    x = np.zeros((1, 5, D_MODEL), np.float32)
    q8 = np.zeros((D_MODEL, HQ * DH), np.int8)
    o8 = np.zeros((HQ * DH, D_MODEL), np.int8)
    wkv = np.zeros((D_MODEL, HKV * DH), np.float32)
    with pytest.raises(mha.Error, match="wq_scale"):
        lib8.layer_int8(x, q8, np.ones(HQ * DH + 1, np.float32), wkv, wkv, o8,
                        np.ones(D_MODEL, np.float32))


def test_int4_quantization_packs_two_per_byte_and_rounds_per_group():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((32, 6)).astype(np.float32)
    w[:16, 1] = 0.0
    q, scale = quantize.weight(w, bits=4, group_size=16)
    assert q.dtype == np.int8 and q.shape == (32, 3) and scale.shape == (2, 6)
    assert scale[0, 1] == 1.0 and scale[1, 1] != 1.0
    # Column 2c in the low nibble of byte c, both signed.
    values = np.clip(np.rint(w[:16] / scale[0]), -7, 7).astype(np.int8)
    assert np.array_equal(q[:16, 0] & 0xF, values[:, 0] & 0xF)
    assert np.array_equal(q[:16, 0] >> 4, values[:, 1])
    err = np.abs(quantize.dequantize_weight(q, scale, bits=4) - w)
    assert np.all(err <= np.repeat(scale, 16, axis=0) / 2 + 1e-7)


@pytest.mark.parametrize("kwargs,text", [
    ({"bits": 4, "group_size": 5}, "group_size must divide the 32 rows"),
    ({"bits": 3}, "bits must be 8 or 4"),
])
def test_bad_quantization_arguments(kwargs, text):
    with pytest.raises(ValueError, match=text):
        quantize.weight(np.ones((32, 6), np.float32), **kwargs)
    with pytest.raises(ValueError, match="even number of columns"):
        quantize.weight(np.ones((32, 5), np.float32), bits=4)


def test_wrong_group_scale_shape_is_an_error(lib4):
    x = np.zeros((1, 5, D_MODEL), np.float32)
    q4 = np.zeros((D_MODEL, HQ * DH // 2), np.int8)
    o4 = np.zeros((HQ * DH, D_MODEL // 2), np.int8)
    wkv = np.zeros((D_MODEL, HKV * DH), np.float32)
    so = np.ones((HQ * DH // GROUP, D_MODEL), np.float32)
    with pytest.raises(mha.Error, match="wq_scale"):
        lib4.layer_int4(x, q4, np.ones((D_MODEL // GROUP + 1, HQ * DH), np.float32),
                        wkv, wkv, o4, so)

"""What quantized weights cost in accuracy (docs/language.md 5.5): the layer
of python/tests/test_quantized_weights.py (d = 48, GQA 4:2, RoPE, causal)
with Wq and Wo int8 (column scales) or int4 (groups of 16 rows), against
the same layer with the dequantized weights (the rounding of the int8 rows
on AVX512-VNNI CPUs) and against the unquantized f32 layer, on random
normal inputs, seeds 0-2.

    python bench/quantized_error.py      (the installed mha package)
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python", "tests"))
import mha  # noqa: E402
from mha import quantize  # noqa: E402
import test_quantized_weights as t  # noqa: E402


def relative(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def main():
    f32 = mha.compile(t.spec("f32")).layer_f32
    for kind, bits, group in (("int8", 8, None), ("int4", 4, t.GROUP)):
        layer = getattr(mha.compile(t.spec(kind)), f"layer_{kind}")
        for seed in range(3):
            x, wq, wk, wv, wo = t.random_layer(seed, rows=64)
            q, sq = quantize.weight(wq, bits=bits, group_size=group)
            o, so = quantize.weight(wo, bits=bits, group_size=group)
            deq = [quantize.dequantize_weight(a, s, bits=bits).astype(np.float32)
                   for a, s in ((q, sq), (o, so))]
            y = layer(x, q, sq, wk, wv, o, so)
            y_deq = f32(x, deq[0], wk, wv, deq[1])
            y_f32 = f32(x, wq, wk, wv, wo)
            print(f"{kind} seed {seed}: vs dequantized {relative(y, y_deq):.2e}, "
                  f"vs f32 {relative(y, y_f32):.2e} (weights' rounding alone "
                  f"{relative(y_deq, y_f32):.2e})")


if __name__ == "__main__":
    main()

"""Cascade (shared-prefix) attention from mha's pieces (docs/language.md
4.5 and 4.6): N requests share one prefix of P keys and each has its own
keys in a paged cache. One call attends every request's query row to the
prefix (the rows as one batch element: the prefix is read once per head),
one call attends each row to its own keys (kv_lens, block_table), and
mha.merge_states combines them: the same as each request attending to its
whole key sequence, checked against the float64 reference.

    pytest python/tests/test_cascade.py
"""
import numpy as np
import pytest

import mha
from mha import reference, semantics
from test_serving import Case

HQ, HKV, D = 8, 2, 32


def cascade_spec():
    q1 = f"tensor<1x{HQ}x?x{D}xf32>"
    kp = f"tensor<1x{HKV}x?x{D}xf32>"
    o1, l1 = f"tensor<1x{HQ}x?x{D}xf32>", f"tensor<1x{HQ}x?xf32>"
    qn = f"tensor<?x{HQ}x1x{D}xf32>"
    pool = f"tensor<?x{HKV}x?x{D}xf32>"
    on, ln = f"tensor<?x{HQ}x1x{D}xf32>", f"tensor<?x{HQ}x1xf32>"
    return f"""
// Every request's row against the shared prefix: no mask (the prefix
// precedes every row).
func.func @prefix(%q: {q1}, %k: {kp}, %v: {kp}) -> ({o1}, {l1}) {{
  %o, %lse = mha.attention %q, %k, %v {{return_lse}} : {q1}, {kp}, {kp} -> {o1}, {l1}
  return %o, %lse : {o1}, {l1}
}}
// Each request's row against its own keys (paged), causal.
func.func @own(%q: {qn}, %k: {pool}, %v: {pool}, %l: tensor<?xi32>, %t: tensor<?x?xi32>)
    -> ({on}, {ln}) {{
  %o, %lse = mha.attention %q, %k, %v kv_lens(%l : tensor<?xi32>)
      block_table(%t : tensor<?x?xi32>) {{causal, return_lse}}
      : {qn}, {pool}, {pool} -> {on}, {ln}
  return %o, %lse : {on}, {ln}
}}
func.func @merge(%oa: {on}, %la: {ln}, %ob: {on}, %lb: {ln}) -> {on} {{
  %o, %lse = mha.merge_states %oa, %la, %ob, %lb : {on}, {ln}, {on}, {ln} -> {on}, {ln}
  return %o : {on}
}}
"""


@pytest.fixture(scope="module")
def cascade_lib(cache_dir):
    return mha.compile(cascade_spec())


@pytest.mark.parametrize("own_lens", [[5, 0, 31, 16, 1], [0, 0]])
def test_cascade_equals_whole_sequences(cascade_lib, own_lens):
    rng = np.random.default_rng(3)
    n, prefix = len(own_lens), 70
    kp = rng.standard_normal((1, HKV, prefix, D), dtype=np.float32)
    vp = rng.standard_normal((1, HKV, prefix, D), dtype=np.float32)
    own = Case(HQ, HKV, D, D, q_lens=[1] * n, kv_lens=own_lens)
    k, v, table = own.paged_kv(16)
    # Request rows [N, Hq, D]: viewed as one sequence of N rows for the
    # prefix call and as N sequences of one row for the own-keys call.
    rows = np.ascontiguousarray(np.stack([q[:, 0] for q in own.qs]))
    as_one = rows.transpose(1, 0, 2)[None]            # [1, Hq, N, D]
    as_many = rows[:, :, None]                        # [N, Hq, 1, D]
    oa, la = cascade_lib.prefix(as_one, kp, vp)
    ob, lb = cascade_lib.own(as_many, k, v, np.array(own_lens, np.int32), table)
    oa_many = np.asarray(oa)[0].transpose(1, 0, 2)[:, :, None]  # views
    la_many = np.asarray(la)[0].transpose(1, 0)[:, :, None]
    o = np.asarray(cascade_lib.merge(oa_many, la_many, ob, lb))
    params = semantics.normalise({"causal": True}, HQ, D)
    for s in range(n):
        kk = np.concatenate([kp[0], own.ks[s]], axis=1)[None]
        vv = np.concatenate([vp[0], own.vs[s]], axis=1)[None]
        want, _, _ = reference.attention(own.qs[s][None], kk, vv, params)
        assert reference.rel_err(o[s], want[0]) < 2e-5, s

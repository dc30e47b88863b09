"""mha.torch.ring_attention, ring_shard, ring_unshard and merge_states
(docs/python.md, "Context parallelism"): gloo groups of 2 and 4 processes
on this machine (ring_worker.py) against one process calling the same
function on the whole sequence: forward (non-causal, causal GQA in the
balanced layout, per-head windows with sinks and ALiBi, a runtime head
mask, sliding windows in the plain layout, dropout), the pairs that are
skipped (counted against a brute-force visibility check), the backward's
schedule with a float64 torch chunk backward, the backward with the
library's own when it accepts explicit positions, and the errors.
"""
import itertools
import os
import random
import socket

import pytest
import torch
import torch.multiprocessing as tmp

import mha
import mha.torch as mt
from mha import semantics

import ring_worker as rw

WORLDS = (2, 4)
# Rows of the whole sequence: 2W chunks of 4 rows with W = 4.
LENGTH = 32


def rel(a, b):
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


@pytest.fixture(scope="module")
def ring_lib(cache_dir):
    return mha.compile(rw.SPEC, **rw.COMPILE_OPTIONS)


def _backward_takes_positions(lib):
    """Whether <name>_backward accepts explicit positions: None if it does,
    else the library's refusal (MHA_ERR_INVALID_ARGUMENT)."""
    q, k, v, dout = rw.inputs("plain", 4)
    o, lse = lib.plain(q, k, v)
    try:
        lib.plain_backward(q, k, v, o, lse, dout, positions=(4, 0))
    except mha.Error as e:
        if e.status_name == "MHA_ERR_INVALID_ARGUMENT" and "position" in e.message:
            return e.message
        raise
    return None


@pytest.fixture(scope="module")
def backward_refusal(ring_lib):
    return _backward_takes_positions(ring_lib)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def runs(ring_lib, cache_dir, backward_refusal, tmp_path_factory):
    """{world: [rank results]}: one spawn per world size runs every case."""
    out = {}
    for world in WORLDS:
        d = tmp_path_factory.mktemp(f"ring{world}")
        tmp.spawn(rw.worker, args=(world, _free_port(), str(cache_dir), LENGTH,
                                   backward_refusal is None, str(d)),
                  nprocs=world, join=True)
        ranks = [torch.load(os.path.join(d, f"rank{r}.pt"), weights_only=False)
                 for r in range(world)]
        for r, res in enumerate(ranks):
            assert "error" not in res, f"rank {r} of {world}: {res['error']}"
        out[world] = ranks
    return out


def _one_process(lib, case):
    fname, _, kwargs = rw.CASES[case]
    q, k, v, dout = rw.inputs(case, LENGTH)
    fn = getattr(lib, fname)
    o, lse = fn(q, k, v, **kwargs)
    return q, k, v, dout, o, lse, fn, kwargs


@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("case", list(rw.CASES))
def test_forward_matches_one_process(ring_lib, runs, world, case):
    _, _, _, _, o, lse, _, kwargs = _one_process(ring_lib, case)
    got = runs[world][0][case]
    assert got["o"].shape == o.shape
    assert rel(got["o"], o) < 1e-5, case
    alive = torch.tensor(kwargs.get("head_mask", [1] * o.shape[1]), dtype=torch.bool)
    assert rel(got["lse"][:, alive], lse[:, alive]) < 1e-5, case
    assert bool(torch.isfinite(got["o"]).all())
    # Every rank unshards the same sequence.
    for other in runs[world][1:]:
        assert torch.equal(other[case]["o"], got["o"])


def _expected_calls(case, world, rank):
    """The pairs (query chunk, key chunk) rank `rank` must compute: a pair
    counts when some live head sees some key of it, by brute force over
    mha.semantics.key_visible at global positions."""
    fname, balanced, kwargs = rw.CASES[case]
    p = rw.FUNCTIONS[fname]
    hq = p["hq"]
    params = semantics.normalise({k: p[k] for k in ("causal", "window_left", "window_right",
                                                    "sink_tokens") if k in p}, hq, rw.D)
    alive = [bool(m) for m in kwargs.get("head_mask", [1] * hq)]
    local = LENGTH // world

    def pieces(r):
        if balanced:
            c = local // 2
            return [(r * c, c), ((2 * world - 1 - r) * c, c)]
        return [(r * local, local)]
    calls = 0
    for src in range(world):
        for (qs, lq), (ks, lk) in itertools.product(pieces(rank), pieces(src)):
            i = torch.arange(qs, qs + lq).reshape(-1, 1)
            j = torch.arange(ks, ks + lk).reshape(1, -1)
            # key_visible with Lq = Lk: the diagonal of query i is key i.
            seen = any(bool(torch.as_tensor(semantics.key_visible(
                i, j, 0, 0, params["causal"], params["window_left"][h],
                params["window_right"][h], params["sink_tokens"])).any())
                for h in range(hq) if alive[h])
            calls += seen
    return calls


@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("case", ["plain", "causal_gqa", "windows", "windows_head_mask",
                                  "local", "two_sided"])
def test_skipped_pairs(runs, world, case):
    """A pair no head sees is not computed; every other pair is."""
    for rank, res in enumerate(runs[world]):
        s = res[case]["stats"]
        assert s["world"] == world
        assert s["calls"] == _expected_calls(case, world, rank), (case, rank, s)
        assert s["calls"] + s["skipped"] == s["pairs"]
    total_skipped = sum(r[case]["stats"]["skipped"] for r in runs[world])
    if case == "plain":
        assert total_skipped == 0
    elif case in ("causal_gqa", "windows", "windows_head_mask"):
        assert total_skipped > 0
    # The head mask prunes head 1 (window 9): fewer pairs than all heads need.
    if case == "windows_head_mask" and world == 4:
        assert total_skipped > sum(r["windows"]["stats"]["skipped"] for r in runs[world])


def test_without_mask_attributes_every_pair_is_computed(ring_lib, runs):
    """A manifest without "attention" (an older mha-compile): no skipping,
    the whole ring, the same results."""
    o = _one_process(ring_lib, "windows")[4]
    for world in WORLDS:
        got = runs[world][0]["no_manifest"]
        assert rel(got["o"], o) < 1e-5
        for res in runs[world]:
            s = res["no_manifest"]["stats"]
            assert s["skipped"] == 0 and s["calls"] == s["pairs"] and s["steps"] == world


def test_ring_stops_early_for_local_windows(runs):
    """Sliding windows without sinks in the plain layout: blocks beyond the
    widest window never travel (fewer steps, fewer bytes)."""
    s = runs[4][0]["local"]["stats"]
    assert s["steps"] == 2, s       # own block and the neighbour's (window 4 < 8 rows)
    full = runs[4][0]["plain"]["stats"]
    assert full["steps"] == 4
    # K/V bytes once per step: B * Hkv * rows * (D + Dv) * 4 bytes.
    assert full["bytes_sent"] == 3 * rw.B * 4 * (LENGTH // 4) * (2 * rw.D) * 4


@pytest.mark.parametrize("world", WORLDS)
def test_ring_attention_module_under_torch_compile(runs, backward_refusal, world):
    """RingAttention's custom ops in torch.compile(fullgraph=True): no graph
    break, and the forward and the gradients of ring_attention in eager
    mode."""
    got, eager = runs[world][0]["compiled"], runs[world][0]["causal_gqa"]
    assert got["graph_breaks"] == 0
    names = ("o", "lse") + (("dq", "dk", "dv") if backward_refusal is None else ())
    for name in names:
        torch.testing.assert_close(got[name], eager[name], rtol=0, atol=0)
    if backward_refusal is None:
        assert "MHA_ERR_NO_GRADIENT" in got["lse_grad"], got["lse_grad"]


def test_two_sided_windows_send_blocks_both_ways(runs):
    """Windows reaching 3 and 5 keys to the right in the plain layout of 4
    ranks (8 rows each): each rank needs the blocks of both neighbours, so
    the blocks travel forward and backward at once: 2 steps and 2 blocks
    sent (the forward ring alone: 4 steps, 3 blocks)."""
    block = rw.B * 2 * (LENGTH // 4) * (2 * rw.D) * 4
    for res in runs[4]:
        s = res["two_sided"]["stats"]
        assert s["steps"] == 2, s
        assert s["bytes_sent"] == 2 * block, s
        # The backward's blocks and their dk/dv, both ways, then home.
        assert s["backward_bytes_sent"] == 2 * block + 2 * 2 * block, s
    # With 2 ranks both neighbours are the same rank: one way suffices.
    s = runs[2][0]["two_sided"]["stats"]
    assert s["steps"] == 2 and s["bytes_sent"] == block * 2, s


@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("case", list(rw.CASES))
def test_backward_matches_one_process(ring_lib, runs, backward_refusal, world, case):
    if backward_refusal is not None:
        pytest.skip("the library's backward refuses explicit positions today: "
                    + backward_refusal)
    q, k, v, dout, o, lse, fn, kwargs = _one_process(ring_lib, case)
    back = ring_lib.backward_of(fn.name)
    dq, dk, dv = back(q, k, v, o, lse, dout, **kwargs)
    got = runs[world][0][case]
    for name, want in (("dq", dq), ("dk", dk), ("dv", dv)):
        assert rel(got[name], want) < 1e-5, (case, name)
    s = runs[world][0][case]["stats"]
    assert s["backward_calls"] == s["calls"]


@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("case", rw.STANDIN_CASES)
def test_backward_schedule_with_standin(runs, world, case):
    """The ring backward (K/V around the ring, dq summed locally, dk/dv
    travelling back to their owners) with a float64 torch chunk backward in
    place of the library's: gradients equal autograd through one float64
    attention of the whole sequence; the same pairs as the forward."""
    fname = rw.CASES[case][0]
    q, k, v, dout = (x.double().requires_grad_() for x in rw.inputs(case, LENGTH))
    o, _ = rw.reference(fname, q, k, v)
    (o * dout).sum().backward()
    got = runs[world][0]["standin_" + case]
    for name, t in (("dq", q), ("dk", k), ("dv", v)):
        assert rel(got[name], t.grad) < 1e-5, (case, name)
    for res in runs[world]:
        s = res["standin_" + case]["stats"]
        assert s["backward_calls"] == s["calls"] == len(res["standin_" + case]["calls"])


def test_gradient_reaching_lse_is_an_error(runs):
    for world in WORLDS:
        assert [r["lse_grad"] for r in runs[world]] == ["MHA_ERR_NO_GRADIENT"] * world


@pytest.mark.parametrize("world", WORLDS)
def test_shard_unshard_and_mismatched_shapes(runs, world):
    for res in runs[world]:
        assert res["roundtrip"] == [True, True]
        assert res["mismatch"] is not None and "differ" in res["mismatch"]


def test_function_checks(ring_lib):
    """Checked before any communication: no torch.distributed needed."""
    q = torch.zeros(1, 2, 4, rw.D)
    with pytest.raises(ValueError, match="return_lse"):
        mt.ring_attention(q, q, q, ring_lib.nolse)
    with pytest.raises(TypeError, match="function of an mha library"):
        mt.ring_attention(q, q, q, lambda *a: a)
    with pytest.raises(ValueError, match="3 dimensions, expected 4"):
        mt.ring_attention(q[0], q, q, ring_lib.plain)


def test_merge_states():
    g = torch.Generator().manual_seed(0)
    o_a, o_b = torch.randn(2, 3, 5, generator=g), torch.randn(2, 3, 5, generator=g)
    lse_a, lse_b = torch.randn(2, 3, generator=g), torch.randn(2, 3, generator=g)
    inf = float("-inf")
    lse_a[0, 0] = inf                       # a contributes nothing
    lse_b[1, 1] = inf                       # b contributes nothing
    lse_a[1, 2] = lse_b[1, 2] = inf         # neither: o = 0, lse = -inf
    o, lse = mt.merge_states(o_a, lse_a, o_b, lse_b)
    la, lb = lse_a.double(), lse_b.double()
    want_lse = torch.logaddexp(la, lb)
    assert torch.equal(o[0, 0], o_b[0, 0]) and lse[0, 0] == lse_b[0, 0]
    assert torch.equal(o[1, 1], o_a[1, 1]) and lse[1, 1] == lse_a[1, 1]
    assert torch.equal(o[1, 2], torch.zeros(5)) and lse[1, 2] == inf
    fin = torch.isfinite(want_lse)
    wa = torch.exp(la - want_lse).unsqueeze(-1)
    wb = torch.exp(lb - want_lse).unsqueeze(-1)
    want = wa * o_a.double() + wb * o_b.double()
    assert torch.allclose(o[fin].double(), want[fin], rtol=1e-6, atol=1e-6)
    assert torch.allclose(lse[fin].double(), want_lse[fin], rtol=1e-6, atol=1e-6)
    assert not bool(torch.isnan(o).any())


def test_head_sees_matches_brute_force():
    """The interval rule of the skipping against key_visible on random
    chunks, windows, sinks and causality."""
    rnd = random.Random(5)
    for _ in range(3000):
        qs, ks = rnd.randrange(0, 40), rnd.randrange(0, 40)
        lq, lk = rnd.randrange(1, 9), rnd.randrange(1, 9)
        causal = rnd.random() < 0.5
        wl, wr = rnd.choice([-1, 0, 1, 3, 7]), rnd.choice([-1, 0, 2, 5])
        sink = rnd.choice([0, 0, 1, 4])
        i = torch.arange(qs, qs + lq).reshape(-1, 1)
        j = torch.arange(ks, ks + lk).reshape(1, -1)
        want = bool(torch.as_tensor(semantics.key_visible(i, j, 0, 0, causal, wl, wr,
                                                          sink)).any())
        assert mt.head_sees(qs, lq, ks, lk, causal, wl, wr, sink) == want, \
            (qs, lq, ks, lk, causal, wl, wr, sink)


def test_positions_keyword(ring_lib):
    """lib.NAME(..., positions=(query_start, key_start)): a chunk of a longer
    sequence; the library checks the range; a bad value is a TypeError."""
    q, k, v, _ = rw.inputs("windows", 24)
    o, lse = ring_lib.windows(q, k, v)
    # Queries 16..23 against keys 8..23 and against keys 0..7 (the sinks),
    # merged: the rows of the whole call.
    oc, lc = ring_lib.windows(q[:, :, 16:], k[:, :, 8:], v[:, :, 8:], positions=(16, 8))
    oa, la = ring_lib.windows(q[:, :, 16:], k[:, :, :8], v[:, :, :8], positions=(16, 0))
    om, lm = mt.merge_states(oc, lc, oa, la)
    assert rel(om, o[:, :, 16:]) < 1e-5 and rel(lm, lse[:, :, 16:]) < 1e-5
    # Without positions the chunk would be aligned bottom-right: different.
    ob, _ = ring_lib.windows(q[:, :, 16:], k[:, :, :8], v[:, :, :8])
    assert rel(ob, oa) > 1e-3
    with pytest.raises(mha.Error) as e:
        ring_lib.windows(q, k, v, positions=(-1, 0))
    assert e.value.status_name == "MHA_ERR_INVALID_ARGUMENT"
    assert "query_start" in e.value.message
    with pytest.raises(TypeError, match="pair"):
        ring_lib.windows(q, k, v, positions=(1, 2, 3))
    with pytest.raises(TypeError, match="two integers"):
        ring_lib.windows(q, k, v, positions=("a", 0))

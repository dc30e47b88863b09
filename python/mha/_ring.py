"""Context-parallel (ring) attention over torch.distributed.

    o, lse = mha.torch.ring_attention(q, k, v, fn=lib.attn, group=None)

Each rank of `group` passes its own rows of one sequence (dim 2 of
[B, H, L, D] q, k, v) in the layout ring_shard makes: with W ranks the
sequence is cut into 2W equal chunks and rank r holds chunks r and 2W-1-r
(causal load balancing, as PyTorch's context parallelism does;
`balanced=False` is the plain layout, rank r holding the r-th of W equal
pieces). K/V blocks travel around the ring (rank r sends to r+1 and
receives from r-1; the next transfer is in flight while the current block
is computed), and every (query chunk, key chunk) pair is one call of the
compiled function with explicit positions (mha_options.use_positions,
query_start, key_start: docs/language.md 7.4), so causal masks, per-head
windows, sinks, ALiBi and dropout follow the chunks' global positions. The
partial results (o, lse) of a query chunk merge by log-sum-exp in f32
(merge_states, SPEC.md "Merging partial results").

A pair whose key chunk no head can see from any query row of the chunk is
not computed (the rule reads the function's causal, window_left,
window_right, sink_tokens and head_mask from the manifest that mha-compile
--manifest writes: `Function.attention`), and the ring stops after the last
step at which some rank still has a pair to compute (windowed specs without
sinks send fewer blocks). When the blocks a rank needs lie on both sides
of its own (windows reaching left and right, non-causal), the blocks travel
both ways at once: forward to the ranks after their owner, backward to the
ranks before it, each block the shorter way, so a window of a few chunks
costs a few steps whatever the number of ranks.

The backward (specs with mha.backward) is FlashAttention's ring backward:
the K/V blocks travel around the ring again, each pair calls
<name>_backward with the rows' final (merged) o and lse, dq is summed
locally and the dk/dv of each block (f32) travel with it and go back to the
block's owner at the end.
"""
import torch
import torch.distributed as dist

from . import _runtime
from ._errors import Error

_NEG_INF = float("-inf")


# ----------------------------------------------------------------------------
# Layout
# ----------------------------------------------------------------------------
def _world(group):
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError("mha.torch ring functions need torch.distributed to be "
                           "initialised (torch.distributed.init_process_group)")
    return dist.get_world_size(group), dist.get_rank(group)


def _pieces(rank, world, local_len, balanced):
    """The pieces of rank `rank`'s rows: (offset in its local rows, length,
    global position of the first)."""
    if balanced:
        c = local_len // 2
        return [(0, c, rank * c), (c, c, (2 * world - 1 - rank) * c)]
    return [(0, local_len, rank * local_len)]


def ring_shard(x, group=None, dim=2, balanced=True):
    """This rank's rows of a whole sequence `x` (its dim `dim`: 2 for
    [B, H, L, D] q/k/v/o and [B, H, L] lse): chunks r and 2W-1-r of 2W equal
    chunks, concatenated (balanced=False: the r-th of W equal pieces).
    Differentiable (narrow and cat)."""
    world, rank = _world(group)
    length = x.shape[dim]
    parts = 2 * world if balanced else world
    if length % parts:
        raise ValueError(f"ring_shard: the sequence length {length} is not a multiple of "
                         f"{parts} ({'2 x ' if balanced else ''}{world} ranks)")
    local = length // world
    return torch.cat([x.narrow(dim, start, n)
                      for _, n, start in _pieces(rank, world, local, balanced)], dim)


def ring_unshard(x, group=None, dim=2, balanced=True):
    """The whole sequence from every rank's rows `x` (the inverse of
    ring_shard; every rank gets it). Every rank must pass the same shape.
    Not differentiable (an all_gather)."""
    world, rank = _world(group)
    x = x.detach().contiguous()
    _check_same(group, x, [x.dim(), dim] + list(x.shape), "ring_unshard")
    gathered = [torch.empty_like(x) for _ in range(world)]
    dist.all_gather(gathered, x, group=group)
    local = x.shape[dim]
    if balanced and local % 2:
        raise ValueError(f"ring_unshard: {local} rows per rank is odd, but the balanced "
                         "layout holds two equal chunks per rank")
    chunks = {}
    for r, part in enumerate(gathered):
        for off, n, start in _pieces(r, world, local, balanced):
            chunks[start] = part.narrow(dim, off, n)
    return torch.cat([chunks[s] for s in sorted(chunks)], dim)


def _check_same(group, like, values, what):
    """Raises ValueError on every rank when the ranks' `values` (ints)
    differ (an all_gather of a small tensor on `like`'s device)."""
    mine = torch.tensor(values, dtype=torch.int64, device=like.device)
    world = dist.get_world_size(group)
    every = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(every, mine, group=group)
    rows = [t.tolist() for t in every]
    if any(r != rows[0] for r in rows):
        raise ValueError(f"{what}: the ranks' tensors differ: {rows} (each rank must pass "
                         "tensors of the same shapes, element type and layout)")


# ----------------------------------------------------------------------------
# Merging partial results
# ----------------------------------------------------------------------------
def merge_states(o_a, lse_a, o_b, lse_b):
    """(o, lse) of attention over the union of two disjoint key sets from
    the partial results over each (SPEC.md "Merging partial results"), in
    f32: lse = log(exp(lse_a) + exp(lse_b)), o = exp(lse_a - lse) o_a +
    exp(lse_b - lse) o_b; a side with lse = -inf contributes nothing, both
    -inf give o = 0 and lse = -inf. o: [..., L, Dv], lse: [..., L]."""
    lse_a, lse_b = lse_a.float(), lse_b.float()
    lse = torch.logaddexp(lse_a, lse_b)
    # Both -inf: weights exp(-inf - 0) = 0, so o = 0 and lse stays -inf.
    safe = torch.where(lse == _NEG_INF, torch.zeros_like(lse), lse)
    wa = torch.exp(lse_a - safe).unsqueeze(-1)
    wb = torch.exp(lse_b - safe).unsqueeze(-1)
    return wa * o_a.float() + wb * o_b.float(), lse


def _merge_into(acc, o, lse):
    """acc = [o f32, lse f32] merged with a partial result, in place."""
    o_m, lse_m = merge_states(acc[0], acc[1], o, lse)
    acc[0].copy_(o_m)
    acc[1].copy_(lse_m)


# ----------------------------------------------------------------------------
# Which pairs are computed
# ----------------------------------------------------------------------------
def head_sees(qs, lq, ks, lk, causal, window_left, window_right, sink_tokens):
    """Does one head see any key at positions [ks, ks + lk) from any query at
    positions [qs, qs + lq)? The rule of mha.semantics.key_visible with
    positions (docs/language.md 6.1, 7.4): over the rectangle, j - i takes
    every value in [ks - (qs + lq - 1), ks + lk - 1 - qs]; the window keeps
    the offsets in [-window_left, window_right] (unbounded for -1), causal
    caps them at 0; with a window, sinks (keys below sink_tokens) are
    visible to every query (causal: to queries at or after them)."""
    if lq <= 0 or lk <= 0:
        return False
    last_q = qs + lq - 1
    dmin, dmax = ks - last_q, ks + lk - 1 - qs
    lo = -window_left if window_left >= 0 else dmin
    hi = window_right if window_right >= 0 else dmax
    if causal:
        hi = min(hi, 0)
    if max(dmin, lo) <= min(dmax, hi):
        return True
    windowed = window_left >= 0 or window_right >= 0
    return windowed and sink_tokens > ks and (not causal or ks <= last_q)


class _Masks:
    """The per-head mask parameters of the function (from the manifest)."""

    def __init__(self, entry, runtime_head_mask):
        self.known = entry is not None
        if not self.known:
            self.alive = (None if runtime_head_mask is None
                          else [bool(m) for m in runtime_head_mask])
            return
        hq = entry["num_heads"]
        alive = list(entry["head_mask"])
        if runtime_head_mask is not None:
            alive = [a and bool(m) for a, m in zip(alive, runtime_head_mask)]
        self.causal = bool(entry["causal"])
        self.sink = int(entry["sink_tokens"])
        # Distinct windows of the live heads: the rule runs once per window.
        self.windows = sorted({(entry["window_left"][h], entry["window_right"][h])
                               for h in range(hq) if alive[h]})
        self.alive = alive

    def sees(self, qs, lq, ks, lk):
        if not self.known:
            return lq > 0 and lk > 0
        return any(head_sees(qs, lq, ks, lk, self.causal, wl, wr, self.sink)
                   for wl, wr in self.windows)


class _Plan:
    """Who computes what. The forward stream: at ring step t rank r holds
    the K/V block of rank (r - t) mod W, and `pairs[t]` are this rank's (q
    piece, k piece) index pairs to compute with it; it runs steps 0 ..
    `last`. The backward stream (when it sends fewer blocks than the forward
    stream alone would): at step t >= 1 rank r also holds the block of rank
    (r + t) mod W, with `back_pairs[t]`, up to step `last_back`. Both are
    the same on every rank; `steps` is the larger of the two, plus one."""

    def __init__(self, world, rank, local_len, balanced, masks):
        self.world, self.rank = world, rank
        self.masks = masks
        self.pieces = [_pieces(r, world, local_len, balanced) for r in range(world)]
        # Every pair this rank would compute without skipping.
        self.total = world * len(self.pieces[rank]) ** 2
        # needed[r][d]: rank r's pairs with the block of rank (r - d) mod W.
        needed = [[[(qi, ki)
                    for ki, (_, lk, ks) in enumerate(self.pieces[(r - d) % world])
                    for qi, (_, lq, qs) in enumerate(self.pieces[r])
                    if masks.sees(qs, lq, ks, lk)]
                   for d in range(world)] for r in range(world)]
        # One direction: the farthest block anyone needs, counted forward.
        last = max((d for r in range(world) for d in range(world) if needed[r][d]),
                   default=0)
        # Two directions: each block the shorter way (a tie goes forward).
        fwd = max((d for r in range(world) for d in range(world)
                   if needed[r][d] and d <= world - d), default=0)
        back = max((world - d for r in range(world) for d in range(1, world)
                    if needed[r][d] and d > world - d), default=0)
        mine = needed[rank]
        if fwd + back < last:
            self.last, self.last_back = fwd, back
            self.pairs = [mine[t] if t <= world - t else [] for t in range(fwd + 1)]
            self.back_pairs = [[] if t == 0 or (world - t) <= t else mine[world - t]
                               for t in range(back + 1)]
        else:
            self.last, self.last_back = last, 0
            self.pairs = mine[:last + 1]
            self.back_pairs = [[]]
        self.steps = max(self.last, self.last_back) + 1


_plans = {}


def _plan(world, rank, local_len, balanced, masks):
    """The _Plan of these sizes and masks (cached: W^2 pairs to decide)."""
    key = (world, rank, local_len, balanced, masks.known, tuple(masks.alive or ()))
    if masks.known:
        key += (masks.causal, masks.sink, tuple(masks.windows))
    plan = _plans.get(key)
    if plan is None:
        if len(_plans) > 256:
            _plans.clear()
        plan = _plans[key] = _Plan(world, rank, local_len, balanced, masks)
    return plan


# ----------------------------------------------------------------------------
# Communication
# ----------------------------------------------------------------------------
class _Ring:
    def __init__(self, group, world, rank):
        self.group = group
        self.world = world

        def glob(r):
            return r if group is None else dist.get_global_rank(group, r)
        self.next = glob((rank + 1) % world)
        self.prev = glob((rank - 1) % world)
        self.glob = glob
        self.bytes_sent = 0

    def exchange(self, tensors, send_to, recv_from, tag):
        """Sends `tensors` to global rank send_to and receives tensors of the
        same shapes from recv_from; returns (requests, received)."""
        received = [torch.empty_like(t) for t in tensors]
        ops = []
        for i, t in enumerate(tensors):
            ops.append(dist.P2POp(dist.isend, t, send_to, self.group, tag + i))
            ops.append(dist.P2POp(dist.irecv, received[i], recv_from, self.group, tag + i))
            self.bytes_sent += t.numel() * t.element_size()
        return dist.batch_isend_irecv(ops), received

    def shift(self, tensors, tag):
        return self.exchange(tensors, self.next, self.prev, tag)

    def shift_back(self, tensors, tag):
        return self.exchange(tensors, self.prev, self.next, tag)


def _wait(requests):
    for r in requests:
        r.wait()


# ----------------------------------------------------------------------------
# The function and its checks
# ----------------------------------------------------------------------------
def _check_function(fn):
    if not isinstance(fn, _runtime.Function):
        raise TypeError("ring_attention: fn must be a function of an mha library "
                        "(lib.<name>), not " + type(fn).__name__)
    in_roles = [p.role for p in fn.inputs]
    out_roles = [p.role for p in fn.outputs]
    if in_roles != ["query", "key", "value"]:
        raise ValueError(f"ring_attention: {fn.name} takes {in_roles}, but ring attention "
                         "needs a function of q, k, v only")
    if "lse" not in out_roles:
        raise ValueError(f"ring_attention: {fn.name} does not return lse: its spec needs "
                         "return_lse (the partial results merge by their log-sum-exp)")
    if out_roles != ["output", "lse"]:
        raise ValueError(f"ring_attention: {fn.name} returns {out_roles}; ring attention "
                         "supports functions returning o and lse only")
    attention = fn.attention
    if attention is not None and len(attention) != 1:
        raise ValueError(f"ring_attention: {fn.name} has {len(attention)} mha.attention ops; "
                         "ring attention needs exactly one")
    return attention[0] if attention else None


def _stream(t):
    if t.is_cuda:
        return torch.cuda.current_stream(t.device).cuda_stream
    return 0


class _Config:
    def __init__(self, fn, backward, group, world, rank, plan, ring, call_opts, stats):
        self.fn, self.backward = fn, backward
        self.group, self.world, self.rank = group, world, rank
        self.plan, self.ring = plan, ring
        self.call_opts = call_opts
        self.stats = stats
        masks = plan.masks
        self.dead_heads = ([h for h, a in enumerate(masks.alive) if not a]
                           if masks.alive is not None else [])


def _forward(cfg, q, k, v):
    q, k, v = q.detach(), k.detach(), v.detach()
    plan, ring, rank, world = cfg.plan, cfg.ring, cfg.rank, cfg.world
    my = plan.pieces[rank]
    qs = [q.narrow(2, off, n) for off, n, _ in my]
    acc = [[q.new_zeros(x.shape[:3] + (v.shape[3],), dtype=torch.float32),
            q.new_full(x.shape[:3], _NEG_INF, dtype=torch.float32)] for x in qs]
    streams = _streams(plan, ring, rank, world, [k.contiguous(), v.contiguous()])
    calls = 0
    for t in range(plan.steps):
        for i, stream in enumerate(streams):
            stream.send(t, tag=4 * t + 2 * i)
        for stream in streams:
            for qi, ki, block, kpiece in stream.pairs_at(t, plan):
                off, n, ks = kpiece
                o, lse = cfg.fn(qs[qi], block[0].narrow(2, off, n),
                                block[1].narrow(2, off, n), positions=(my[qi][2], ks),
                                **cfg.call_opts)
                calls += 1
                _merge_into(acc[qi], o, lse)
        for stream in streams:
            stream.receive()
    o = torch.cat([a[0] for a in acc], 2).to(q.dtype)
    lse = torch.cat([a[1] for a in acc], 2)
    if cfg.dead_heads:
        # A pruned head's lse is unspecified (it may not merge cleanly): its
        # rows are 0, its lse -inf, as for rows with no visible key.
        o[:, cfg.dead_heads] = 0
        lse[:, cfg.dead_heads] = _NEG_INF
    if cfg.stats is not None:
        cfg.stats.update(world=world, steps=plan.steps, pairs=plan.total, calls=calls,
                         skipped=plan.total - calls, bytes_sent=ring.bytes_sent)
    return o, lse


class _Stream:
    """One direction of the ring: the K/V block a rank holds at each step
    (its own at step 0, then the one `shift` brings), sent on while the
    current one is computed, up to step `last`. `way` is 1 when rank r
    holds block r - t at step t (forward), -1 when it holds r + t."""

    def __init__(self, pairs, last, block, shift, way, rank, world):
        self.pairs, self.last, self.block = pairs, last, block
        self.shift, self.way, self.rank, self.world = shift, way, rank, world
        self.pending = None
        # The backward: dk and dv (f32) of each block travel with it.
        self.dkv = None        # the accumulators of the block this rank holds
        self.incoming = None   # (requests, received) of those in flight

    def source(self, t):
        return (self.rank - self.way * t) % self.world

    def send(self, t, tag):
        self.pending = self.shift(self.block, tag=tag) if t < self.last else None

    def pairs_at(self, t, plan):
        """(q piece, k piece index, block, k piece) of step t."""
        if t >= len(self.pairs):
            return []
        kpieces = plan.pieces[self.source(t)]
        return [(qi, ki, self.block, kpieces[ki]) for qi, ki in self.pairs[t]]

    def receive(self):
        if self.pending is not None:
            _wait(self.pending[0])
            self.block = self.pending[1]
            self.pending = None

    def carry_gradients(self, t, local, tag):
        """Adds the accumulators that followed the block here to `local`,
        the step's own, and sends the sum on after the block."""
        if self.incoming is not None:
            _wait(self.incoming[0])
            local[0].add_(self.incoming[1][0])
            local[1].add_(self.incoming[1][1])
            self.incoming = None
        self.dkv = local
        if t < self.last:
            self.incoming = self.shift(local, tag=tag)

    def return_gradients(self, ring, tag):
        """The accumulators of this rank's own block: at the last step rank
        r holds those of block r - way * last, which go to its owner."""
        if not self.last:
            return self.dkv
        owner = (self.rank - self.way * self.last) % self.world
        holder = (self.rank + self.way * self.last) % self.world
        reqs, mine = ring.exchange(self.dkv, ring.glob(owner), ring.glob(holder), tag=tag)
        _wait(reqs)
        return mine


def _streams(plan, ring, rank, world, own):
    """The forward stream, and the backward one when the plan uses it."""
    streams = [_Stream(plan.pairs, plan.last, own, ring.shift, 1, rank, world)]
    if plan.last_back:
        streams.append(_Stream(plan.back_pairs, plan.last_back, own, ring.shift_back, -1,
                               rank, world))
    return streams


def _backward(cfg, q, k, v, o, lse, do):
    q, k, v, o, lse, do = (x.detach() for x in (q, k, v, o, lse, do))
    plan, ring, rank, world = cfg.plan, cfg.ring, cfg.rank, cfg.world
    ring.bytes_sent = 0
    my = plan.pieces[rank]

    def rows(x):
        return [x.narrow(2, off, n) for off, n, _ in my]
    qs, os_, lses, dos = rows(q), rows(o), rows(lse), rows(do)
    dq = torch.zeros(q.shape, dtype=torch.float32, device=q.device)
    dqs = rows(dq)
    streams = _streams(plan, ring, rank, world, [k.contiguous(), v.contiguous()])
    calls = 0
    for t in range(plan.steps):
        for i, stream in enumerate(streams):
            stream.send(t, tag=8 * t + 4 * i)
        for i, stream in enumerate(streams):
            if t > stream.last:
                continue
            # The f32 dk, dv of the block this stream holds, summed here and
            # then with those that arrive from the ranks before.
            local = [torch.zeros(b.shape, dtype=torch.float32, device=q.device)
                     for b in stream.block]
            for qi, ki, block, kpiece in stream.pairs_at(t, plan):
                off, n, ks = kpiece
                dqc, dkc, dvc = cfg.backward(qs[qi], block[0].narrow(2, off, n),
                                             block[1].narrow(2, off, n), os_[qi], lses[qi],
                                             dos[qi], positions=(my[qi][2], ks),
                                             **cfg.call_opts)
                calls += 1
                dqs[qi].add_(dqc)
                local[0].narrow(2, off, n).add_(dkc)
                local[1].narrow(2, off, n).add_(dvc)
            stream.carry_gradients(t, local, tag=8 * t + 4 * i + 2)
        for stream in streams:
            stream.receive()
    # Each stream's accumulators go back to their block's owner.
    dk, dv = (torch.zeros(x.shape, dtype=torch.float32, device=q.device) for x in (k, v))
    for i, stream in enumerate(streams):
        owned = stream.return_gradients(ring, tag=8 * plan.steps + 4 * i)
        dk.add_(owned[0])
        dv.add_(owned[1])
    if cfg.stats is not None:
        cfg.stats.update(backward_calls=calls, backward_skipped=plan.total - calls,
                         backward_bytes_sent=ring.bytes_sent)
    return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype)


def _check_tensors(q, k, v):
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"ring_attention: '{name}' must be a torch.Tensor")
        if t.dim() != 4:
            raise ValueError(f"ring_attention: '{name}' has {t.dim()} dimensions, "
                             "expected 4 ([B, H, L, D])")


def _configure(q, k, v, fn, group, balanced, head_mask, num_threads, dropout_seed,
               dropout_offset, stats):
    """The checks every rank makes together (shapes and element types agree
    across the group) and the _Config of one call."""
    entry = _check_function(fn)
    _check_tensors(q, k, v)
    world, rank = _world(group)
    local = q.shape[2]
    if k.shape[2] != local or v.shape[2] != local:
        raise ValueError(f"ring_attention: q, k and v hold {local}, {k.shape[2]} and "
                         f"{v.shape[2]} rows: each rank holds the same rows of q, k and v")
    dtypes = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}
    _check_same(group, q, [dtypes.get(q.dtype, 3), dtypes.get(k.dtype, 3),
                           dtypes.get(v.dtype, 3), int(balanced)] + list(q.shape)
                + list(k.shape) + list(v.shape), "ring_attention")
    if balanced and local % 2:
        raise ValueError(f"ring_attention: {local} rows per rank is odd, but the balanced "
                         "layout (ring_shard) holds two equal chunks per rank")
    if head_mask is not None:
        if hasattr(head_mask, "tolist"):
            head_mask = head_mask.tolist()
        fn._head_mask(head_mask)          # its length, as a call checks it
    masks = _Masks(entry, head_mask)
    plan = _plan(world, rank, local, balanced, masks)
    call_opts = dict(num_threads=num_threads, head_mask=head_mask,
                     dropout_seed=dropout_seed, dropout_offset=dropout_offset,
                     cuda_stream=_stream(q))
    backward = fn.library.backward_of(fn.name)
    return _Config(fn, backward, group, world, rank, plan, _Ring(group, world, rank),
                   call_opts, stats)


def _check_no_lse_gradient(fn, dlse):
    if dlse is not None and bool(dlse.ne(0).any()):
        raise Error(None, f"{fn.name}: a gradient reaches the 'lse' result of "
                    "ring_attention, but the backward takes none: detach 'lse' before "
                    "it reaches the loss", fn.name, "MHA_ERR_NO_GRADIENT")


def _check_backward(cfg):
    if cfg.backward is None:
        raise Error(None, f"{cfg.fn.name}: ring_attention is differentiable only for "
                    "functions marked mha.backward", cfg.fn.name, "MHA_ERR_NO_GRADIENT")


class _RingAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, cfg):
        o, lse = _forward(cfg, q, k, v)
        ctx.cfg = cfg
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(q, k, v, o, lse)
        return o, lse

    @staticmethod
    def backward(ctx, do, dlse):
        cfg = ctx.cfg
        _check_no_lse_gradient(cfg.fn, dlse)
        _check_backward(cfg)
        q, k, v, o, lse = ctx.saved_tensors
        if do is None:
            # Every rank must take part in the ring: zeros, not a shortcut.
            do = torch.zeros_like(o)
        dq, dk, dv = _backward(cfg, q, k, v, o, lse, do.contiguous())
        return dq, dk, dv, None


def ring_attention(q, k, v, fn, group=None, *, balanced=True, head_mask=None,
                   num_threads=0, dropout_seed=0, dropout_offset=0, stats=None):
    """Context-parallel attention of `fn` (lib.<name>: a function of q, k, v
    returning o and lse) over the ranks of `group` (default: the world).

    q [B, Hq, Lr, D], k [B, Hkv, Lr, D], v [B, Hkv, Lr, Dv] are this rank's
    rows of the sequence in ring_shard's layout (every rank the same
    shapes); returns (o, lse) for those rows, o in q's element type, lse f32.
    Differentiable in q, k, v when fn's spec has mha.backward (a gradient
    reaching lse is an error). head_mask, num_threads, dropout_seed and
    dropout_offset are passed to every call (dropout's mask follows the
    global positions, so it is the mask of one call on the whole sequence).
    `stats`, a dict, receives world, steps, pairs, calls, skipped and
    bytes_sent (and backward_calls, backward_skipped, backward_bytes_sent
    after the backward). Under torch.compile use RingAttention, whose
    custom ops the compiler keeps in its graph."""
    cfg = _configure(q, k, v, fn, group, balanced, head_mask, num_threads, dropout_seed,
                     dropout_offset, stats)
    return _RingAttention.apply(q, k, v, cfg)


# ----------------------------------------------------------------------------
# The ring as custom ops (torch.compile)
# ----------------------------------------------------------------------------
def _to_int64(word):
    """A 64-bit word as a schema int (signed)."""
    word &= 2**64 - 1
    return word - 2**64 if word >= 2**63 else word


_ring_op_count = 0


class RingAttention(torch.nn.Module):
    """ring_attention as a module of two custom ops (the forward and its
    backward), which torch.compile(fullgraph=True) keeps whole in its graph:

        attend = mha.torch.RingAttention(lib.attn, group=None)   # outside torch.compile
        o, lse = attend(q, k, v)            # head_mask=, dropout_seed=, dropout_offset=

    The ops are made when the module is (op names are unique per module:
    `mha_ring::<fn>_<n>`), so make it outside the compiled code. Each call
    of the forward op, and of its backward, checks and plans on every rank
    as ring_attention does; it takes no `stats`."""

    def __init__(self, fn, group=None, *, balanced=True, num_threads=0):
        super().__init__()
        global _ring_op_count
        _check_function(fn)
        self.fn, self.group, self.balanced = fn, group, balanced
        _ring_op_count += 1
        name = f"mha_ring::{fn.name}_{_ring_op_count}"
        self._op = _make_ring_ops(name, fn, group, balanced, num_threads)

    def forward(self, q, k, v, head_mask=None, dropout_seed=0, dropout_offset=0):
        _check_tensors(q, k, v)
        if head_mask is not None and not isinstance(head_mask, torch.Tensor):
            head_mask = torch.tensor([1 if h else 0 for h in head_mask], dtype=torch.uint8)
        return self._op(q, k, v, head_mask, _to_int64(dropout_seed),
                        _to_int64(dropout_offset))


def _make_ring_ops(name, fn, group, balanced, num_threads):
    def configure(q, k, v, head_mask, seed, offset):
        return _configure(q, k, v, fn, group, balanced, head_mask, num_threads,
                          seed & (2**64 - 1), offset & (2**64 - 1), None)

    def forward(q, k, v, head_mask, seed, offset):
        return _forward(configure(q, k, v, head_mask, seed, offset), q, k, v)

    def forward_fake(q, k, v, head_mask, seed, offset):
        return (q.new_empty(q.shape[:3] + v.shape[3:]),
                q.new_empty(q.shape[:3], dtype=torch.float32))

    def backward(q, k, v, o, lse, do, dlse, head_mask, seed, offset):
        # The lse rule is checked here, when the backward runs: under
        # torch.compile an unused result's gradient is zeros, not None.
        _check_no_lse_gradient(fn, dlse)
        cfg = configure(q, k, v, head_mask, seed, offset)
        _check_backward(cfg)
        return _backward(cfg, q, k, v, o, lse, do.contiguous())

    def backward_fake(q, k, v, o, lse, do, dlse, head_mask, seed, offset):
        return torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)

    options = "Tensor? head_mask, int dropout_seed, int dropout_offset"
    op = torch.library.custom_op(
        name, forward, mutates_args=(), device_types=("cpu", "cuda"),
        schema=f"(Tensor q, Tensor k, Tensor v, {options}) -> (Tensor, Tensor)")
    op.register_fake(forward_fake)
    bop = torch.library.custom_op(
        name + "_backward", backward, mutates_args=(), device_types=("cpu", "cuda"),
        schema=f"(Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse, Tensor do, "
               f"Tensor? dlse, {options}) -> (Tensor, Tensor, Tensor)")
    bop.register_fake(backward_fake)

    def setup_context(ctx, inputs, output):
        ctx.set_materialize_grads(False)
        ctx.options = inputs[3:]
        ctx.save_for_backward(*inputs[:3], *output)

    def grad(ctx, do, dlse):
        q, k, v, o, lse = ctx.saved_tensors
        if do is None:
            do = torch.zeros_like(o)   # every rank takes part in the ring
        dq, dk, dv = bop(q, k, v, o, lse, do, dlse, *ctx.options)
        return dq, dk, dv, None, None, None

    op.register_autograd(grad, setup_context=setup_context)
    return op

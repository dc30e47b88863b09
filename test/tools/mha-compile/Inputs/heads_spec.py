"""Writes a spec with H query heads (H/4 KV heads), per-head arrays of H
entries (windows, ALiBi slopes, temperatures, head mask) and static or
dynamic sequence lengths: for the code-size and compile-time test."""
import sys

heads, seq = int(sys.argv[1]), sys.argv[2]  # seq: "?" or a static length
kv = max(1, heads // 4)
def arr(kind, values):
    return "array<%s: %s>" % (kind, ", ".join(values))
wl = arr("i64", [str((h * 37) % 300 - 1) for h in range(heads)])
wr = arr("i64", [str(-1 if h % 3 else h % 50) for h in range(heads)])
al = arr("f32", ["%.6e" % (1.0 / (1 + h)) for h in range(heads)])
tp = arr("f32", ["%.6e" % (0.5 + (h % 7) / 4.0) for h in range(heads)])
hm = arr("i1", ["false" if h % 5 == 4 else "true" for h in range(heads)])
q = "tensor<?x%dx%sx64xf32>" % (heads, seq)
k = "tensor<?x%dx%sx64xf32>" % (kv, seq)
lse = "tensor<?x%dx%sxf32>" % (heads, seq)
print("""func.func @heads(%%q: %(q)s, %%k: %(k)s, %%v: %(k)s) -> (%(q)s, %(lse)s) {
  %%o, %%lse = mha.attention %%q, %%k, %%v {causal, sink_tokens = 4,
      window_left = %(wl)s, window_right = %(wr)s, alibi_slopes = %(al)s,
      temperature = %(tp)s, head_mask = %(hm)s, return_lse}
      : %(q)s, %(k)s, %(k)s -> %(q)s, %(lse)s
  return %%o, %%lse : %(q)s, %(lse)s
}""" % dict(q=q, k=k, lse=lse, wl=wl, wr=wr, al=al, tp=tp, hm=hm))

"""Spec text the tests compile, shared by the pytest modules (through
conftest) and by ring_worker.py, whose spawned processes import nothing of
pytest."""


def attention_spec(name, hq, hkv, d, dv=None, dtype="f32", attrs="", backward=False,
                   lse=True):
    """The text of one mha.attention function: q [?, hq, ?, d], k [?, hkv, ?, d],
    v [?, hkv, ?, dv] -> o (and lse)."""
    dv = dv or d
    q, k, v = (f"tensor<?x{hq}x?x{d}x{dtype}>", f"tensor<?x{hkv}x?x{d}x{dtype}>",
               f"tensor<?x{hkv}x?x{dv}x{dtype}>")
    o, l = f"tensor<?x{hq}x?x{dv}x{dtype}>", f"tensor<?x{hq}x?xf32>"
    a = [x for x in (attrs, "return_lse" if lse else "") if x]
    attr_dict = "{" + ", ".join(a) + "}" if a else ""
    results = f"({o}, {l})" if lse else o
    values = "%o, %lse" if lse else "%o"
    rtypes = f"{o}, {l}" if lse else o
    fattrs = " attributes {mha.backward}" if backward else ""
    return f"""
func.func @{name}(%q: {q}, %k: {k}, %v: {v}) -> {results}{fattrs} {{
  {values} = mha.attention %q, %k, %v {attr_dict} : {q}, {k}, {v} -> {rtypes}
  return {values} : {rtypes}
}}
"""


# GQA 4:2, causal, returning o, lse and entropy, with a backward (which
# takes dentropy): the entropy-regulariser tests of torch and JAX.
ENTROPY_SPEC = """
func.func @ent(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x8xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse, %ent = mha.attention %q, %k, %v {causal, return_lse, return_entropy}
      : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>
      -> tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
  return %o, %lse, %ent : tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
}
"""

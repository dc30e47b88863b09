"""The attributes of mha.attention and the key-visibility rule.

One place in Python for the meaning of the attention attributes: the
per-head parameters (every attribute explicit, per-head arrays expanded to
one value per query head) and the rule "is key j visible to query i of head
h". The float64 reference (mha.reference), the peers' masks in bench/ and
the GPU check's FlexAttention masks and FLOP counts are all built on
`key_visible`. It is the same rule as the C++ reference
(lib/Reference/AttentionReference.cpp, AttentionProblem::isVisible).

Standard library only: scripts/gpu/cases.py and bench/gen_specs.py run it
with the system python3, before any virtual environment exists.
"""
import math
import struct

# The attributes of mha.attention in the order a spec writes them, and those
# that hold one value per query head (or one value for every head).
ATTR_ORDER = ["scale", "temperature", "softcap", "alibi_slopes", "causal",
              "window_left", "window_right", "sink_tokens", "head_mask",
              "return_lse"]
PER_HEAD = ["temperature", "alibi_slopes", "window_left", "window_right"]


def f32(x):
    """x rounded to f32 (what an f32 attribute of the spec holds)."""
    return struct.unpack("f", struct.pack("f", float(x)))[0]


def default_scale(d):
    """The scale when the spec names none: 1/sqrt(D), rounded to f32."""
    return f32(1.0 / math.sqrt(d))


def normalise(attrs, hq, d):
    """The per-head parameters of one mha.attention: every attribute
    explicit, per-head arrays expanded to hq values, defaults filled in.

    attrs is a dict of the spec's attributes as written (a per-head array
    may hold one value for every head). The result has the keys of
    ATTR_ORDER: scale (f32), temperature and alibi_slopes (hq f32 values),
    softcap (f32 or None), causal (bool), window_left and window_right (hq
    ints, -1 = unbounded), sink_tokens (int), head_mask (hq bools),
    return_lse (bool)."""
    unknown = set(attrs) - set(ATTR_ORDER)
    if unknown:
        raise ValueError(f"unknown attributes {sorted(unknown)}")
    n = dict(scale=f32(attrs["scale"]) if "scale" in attrs else default_scale(d),
             temperature=[1.0] * hq, softcap=None, alibi_slopes=[0.0] * hq,
             causal=bool(attrs.get("causal", False)),
             window_left=[-1] * hq, window_right=[-1] * hq,
             sink_tokens=int(attrs.get("sink_tokens", 0)),
             head_mask=[True] * hq, return_lse=bool(attrs.get("return_lse", False)))
    if attrs.get("softcap") is not None:
        n["softcap"] = f32(attrs["softcap"])
    for key in PER_HEAD + ["head_mask"]:
        if key in attrs:
            v = list(attrs[key])
            if len(v) == 1:
                v = v * hq
            if len(v) != hq:
                raise ValueError(f"{key}: {len(v)} values for {hq} heads")
            if key in ("temperature", "alibi_slopes"):
                v = [f32(x) for x in v]
            elif key == "head_mask":
                v = [bool(x) for x in v]
            else:
                v = [int(x) for x in v]
            n[key] = v
    return n


def has_window(params):
    """Whether some head sees less than the causal (or full) range: a window
    on either side, or sink tokens (which only matter with a window)."""
    return (any(w >= 0 for w in params["window_left"] + params["window_right"])
            or params["sink_tokens"] > 0)


def attr_text(attrs):
    """The attribute list of a spec (`causal`, `window_left = array<i64: ...>`,
    ...), in ATTR_ORDER, from attributes as written (not normalised)."""
    def flt(x):
        return f"{f32(x):.9e}"
    out = []
    for key in ATTR_ORDER:
        if key not in attrs:
            continue
        val = attrs[key]
        if key in ("causal", "return_lse"):
            if val:
                out.append(key)
        elif key in ("scale", "softcap"):
            out.append(f"{key} = {flt(val)} : f32")
        elif key in ("temperature", "alibi_slopes"):
            out.append(f"{key} = array<f32: {', '.join(flt(v) for v in val)}>")
        elif key in ("window_left", "window_right"):
            out.append(f"{key} = array<i64: {', '.join(str(int(v)) for v in val)}>")
        elif key == "sink_tokens":
            out.append(f"sink_tokens = {int(val)}")
        elif key == "head_mask":
            out.append("head_mask = array<i1: "
                       + ", ".join("true" if v else "false" for v in val) + ">")
    unknown = set(attrs) - set(ATTR_ORDER)
    if unknown:
        raise ValueError(f"unknown attributes {sorted(unknown)}")
    return out


def diagonal(i, lq, lk):
    """Query i's diagonal key: the key at the query's own position when the
    Lq queries are the last Lq of the Lk keys (so Lq < Lk is decoding)."""
    return i + (lk - lq)


def _unbounded(w):
    return isinstance(w, int) and w < 0


def key_visible(i, j, lq, lk, causal=False, window_left=-1, window_right=-1,
                sink_tokens=0, alive=True):
    """Is key j visible to query i of a head with these parameters?

    With p = diagonal(i, lq, lk) the query's own key:
      causal:               keys after p are never visible;
      sink_tokens:          keys j < sink_tokens are visible (unless causal hides them);
      window_left >= 0:     otherwise keys j < p - window_left are not;
      window_right >= 0:    otherwise keys j > p + window_right are not;
      alive (head_mask):    a pruned head sees no key (its output is 0).

    Operators only, so the arguments may be Python ints and bools, NumPy
    arrays (broadcast: e.g. i [Lq, 1], j [1, Lk], windows [Hq, 1, 1]) or
    torch tensors (inside a FlexAttention mask_mod too). A window of a plain
    int -1 adds no term. The result has the broadcast shape of i and j (and
    of the tensors among the other arguments)."""
    d = j - diagonal(i, lq, lk)           # the key's offset from the diagonal
    vis = None
    if not _unbounded(window_left):
        vis = (window_left < 0) | (d >= -window_left)
    if not _unbounded(window_right):
        right = (window_right < 0) | (d <= window_right)
        vis = right if vis is None else vis & right
    if vis is not None and not (isinstance(sink_tokens, int) and sink_tokens <= 0):
        vis = vis | (j < sink_tokens)
    if causal:
        vis = (d <= 0) if vis is None else vis & (d <= 0)
    if alive is not True:
        vis = (d == d) & alive if vis is None else vis & alive
    return (d == d) if vis is None else vis

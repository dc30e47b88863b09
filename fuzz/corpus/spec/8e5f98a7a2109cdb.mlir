func.func @all_attributes(%q: tensor<?x4x?x64xbf16>, %k: tensor<?x2x?x64xbf16>,
                          %v: tensor<?x2x?x64xbf16>) -> tensor<?x4x?x64xbf16> {
  %o = mha.attention %q, %k, %v {
         scale = 0.1 : f32, temperature = array<f32: 1.0, 1.5, 2.0, 2.5>,
         softcap = 50.0 : f32, alibi_slopes = array<f32: 0.5>, causal,
         window_left = array<i64: 32, -1, 32, -1>, window_right = array<i64: 0>,
         sink_tokens = 2, head_mask = array<i1: true, true, false, true>}
       : tensor<?x4x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>
       -> tensor<?x4x?x64xbf16>
  return %o : tensor<?x4x?x64xbf16>
}

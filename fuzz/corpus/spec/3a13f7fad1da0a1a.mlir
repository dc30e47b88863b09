func.func @mods_f16(%q: tensor<?x4x?x40xf16>, %k: tensor<?x1x?x40xf16>,
                    %v: tensor<?x1x?x40xf16>) -> tensor<?x4x?x40xf16> {
  %o = mha.attention %q, %k, %v
         {temperature = array<f32: 0.5, 1.0, 2.0, 4.0>, softcap = 3.0 : f32,
          alibi_slopes = array<f32: 0.25, 0.125, 0.0625, 0.03125>,
          head_mask = array<i1: true, true, true, false>}
       : tensor<?x4x?x40xf16>, tensor<?x1x?x40xf16>, tensor<?x1x?x40xf16>
       -> tensor<?x4x?x40xf16>
  return %o : tensor<?x4x?x40xf16>
}

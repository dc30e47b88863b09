func.func @paged_rope(%kn: tensor<?x2x?x80xf16>, %vn: tensor<?x2x?x80xf16>, %l: tensor<?xi32>,
                      %n: tensor<?xi32>, %table: tensor<?x?xi32>,
                      %kc: tensor<?x2x16x80xf16>, %vc: tensor<?x2x16x80xf16>)
    -> (tensor<?x2x16x80xf16>, tensor<?x2x16x80xf16>) {
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%l : tensor<?xi32>)
      q_lens(%n : tensor<?xi32>) block_table(%table : tensor<?x?xi32>) {rope_theta = 1.0e4 : f32}
      : tensor<?x2x?x80xf16>, tensor<?x2x?x80xf16>, tensor<?x2x16x80xf16>, tensor<?x2x16x80xf16>
      -> tensor<?x2x16x80xf16>, tensor<?x2x16x80xf16>
  return %k, %v : tensor<?x2x16x80xf16>, tensor<?x2x16x80xf16>
}

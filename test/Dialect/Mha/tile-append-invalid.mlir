// RUN: mha-opt %s -split-input-file -mha-tile -verify-diagnostics

// An exported append function takes its tensors in C order and returns the
// caches.
func.func @order(%kn: tensor<?x2x?x16xf32>, %vn: tensor<?x2x?x16xf32>, %kc: tensor<?x2x?x16xf32>,
                 %vc: tensor<?x2x?x16xf32>, %l: tensor<?xi32>) -> (tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>) {
  // expected-error @+1 {{an exported mha.append_kv takes the function arguments in the order of its C parameters: k_new, v_new, kv_lens, [q_lens,] [block_table,] [cu_seqlens_q,] [k_scale, v_scale,] k_cache, v_cache}}
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%l : tensor<?xi32>)
      : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
      -> tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
  return %k, %v : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
}

// -----

// expected-error @+1 {{'returns_one' must return the two caches its mha.append_kv writes}}
func.func @returns_one(%kn: tensor<?x2x?x16xf32>, %vn: tensor<?x2x?x16xf32>, %l: tensor<?xi32>,
                       %kc: tensor<?x2x?x16xf32>, %vc: tensor<?x2x?x16xf32>) -> tensor<?x2x?x16xf32> {
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%l : tensor<?xi32>)
      : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
      -> tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
  return %k : tensor<?x2x?x16xf32>
}

// -----

// An append of keys only is a latent step's, not a function of its own.
func.func @keys_only(%kn: tensor<?x1x?x28xf32>, %l: tensor<?xi32>, %kc: tensor<?x1x?x28xf32>) -> tensor<?x1x?x28xf32> {
  // expected-error @+1 {{an exported mha.append_kv appends keys and values: an append without values belongs to a latent layer's decoding step}}
  %k = mha.append_kv %kn into %kc kv_lens(%l : tensor<?xi32>)
      : tensor<?x1x?x28xf32>, tensor<?x1x?x28xf32> -> tensor<?x1x?x28xf32>
  return %k : tensor<?x1x?x28xf32>
}

// -----

// q_lens comes before block_table, in the serving order.
func.func @q_lens_order(%kn: tensor<?x2x?x16xf32>, %vn: tensor<?x2x?x16xf32>, %l: tensor<?xi32>,
                        %t: tensor<?x?xi32>, %ql: tensor<?xi32>, %kc: tensor<?x2x?x16xf32>, %vc: tensor<?x2x?x16xf32>)
    -> (tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>) {
  // expected-error @+1 {{an exported mha.append_kv takes the function arguments in the order of its C parameters: k_new, v_new, kv_lens, [q_lens,] [block_table,] [cu_seqlens_q,] [k_scale, v_scale,] k_cache, v_cache}}
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%l : tensor<?xi32>) q_lens(%ql : tensor<?xi32>) block_table(%t : tensor<?x?xi32>)
      : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
      -> tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
  return %k, %v : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
}

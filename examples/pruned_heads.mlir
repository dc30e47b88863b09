// Head pruning with head_mask: a head whose entry is false contributes
// nothing (its output rows are 0). Here 4 of BERT-base's 12 heads (1, 4, 7
// and 10) are pruned after a head-importance study. head_mask holds exactly
// one entry per query head; to try masks without recompiling, use the
// runtime mask of mha_options instead.

func.func @pruned_attention(%q: tensor<?x12x?x64xf32>, %k: tensor<?x12x?x64xf32>,
                            %v: tensor<?x12x?x64xf32>) -> tensor<?x12x?x64xf32> {
  %o = mha.attention %q, %k, %v {
         head_mask = array<i1: true, false, true, true, false, true,
                               true, false, true, true, false, true>}
       : tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32>
       -> tensor<?x12x?x64xf32>
  return %o : tensor<?x12x?x64xf32>
}

// The same pruning on a whole layer (d = 768, 12 heads of 64, with the
// usual Q/K/V and output biases): the pruned heads' columns of the input of
// Wo are zero.
func.func @pruned_layer(%x: tensor<?x?x768xf32>, %wq: tensor<768x768xf32>,
                        %wk: tensor<768x768xf32>, %wv: tensor<768x768xf32>,
                        %wo: tensor<768x768xf32>, %bq: tensor<768xf32>,
                        %bk: tensor<768xf32>, %bv: tensor<768xf32>,
                        %bo: tensor<768xf32>) -> tensor<?x?x768xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo {
         num_heads = 12, has_qkv_bias, has_out_bias,
         head_mask = array<i1: true, false, true, true, false, true,
                               true, false, true, true, false, true>}
       : tensor<?x?x768xf32>, tensor<768x768xf32>, tensor<768x768xf32>,
         tensor<768x768xf32>, tensor<768x768xf32>, tensor<768xf32>,
         tensor<768xf32>, tensor<768xf32>, tensor<768xf32>
       -> tensor<?x?x768xf32>
  return %y : tensor<?x?x768xf32>
}

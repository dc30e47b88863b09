func.func @dynamic_batch_and_lengths(%q: tensor<?x8x?x64xf32>, %k: tensor<?x8x?x64xf32>,
                                     %v: tensor<?x8x?x64xf32>) -> tensor<?x8x?x64xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>
       -> tensor<?x8x?x64xf32>
  return %o : tensor<?x8x?x64xf32>
}

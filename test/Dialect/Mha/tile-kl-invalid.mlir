// RUN: mha-opt %s -split-input-file --mha-tile -verify-diagnostics

// A loss function takes q_t, k_t, q_s, k_s in that order and returns each
// result at most once.

func.func @order(%qs: tensor<?x2x?x16xf32>, %kt: tensor<?x2x?x16xf32>, %qt: tensor<?x2x?x16xf32>,
                 %ks: tensor<?x2x?x16xf32>) -> tensor<?x2x?xf32> {
  // expected-error @+1 {{an exported mha.attention_kl takes the function arguments in the order of its C parameters: q_t, k_t, q_s, k_s}}
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks
      : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
      -> tensor<?x2x?xf32>, tensor<?x2x?xf32>, tensor<?x2x?xf32>
  return %kl : tensor<?x2x?xf32>
}

// -----

// expected-error @+1 {{'twice' must return results of its mha.attention_kl, each at most once}}
func.func @twice(%qt: tensor<?x2x?x16xf32>, %kt: tensor<?x2x?x16xf32>, %qs: tensor<?x2x?x16xf32>,
                 %ks: tensor<?x2x?x16xf32>) -> (tensor<?x2x?xf32>, tensor<?x2x?xf32>) {
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks
      : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
      -> tensor<?x2x?xf32>, tensor<?x2x?xf32>, tensor<?x2x?xf32>
  return %kl, %kl : tensor<?x2x?xf32>, tensor<?x2x?xf32>
}

// -----

func.func @extra_op(%qt: tensor<?x2x?x16xf32>, %kt: tensor<?x2x?x16xf32>, %qs: tensor<?x2x?x16xf32>,
                    %ks: tensor<?x2x?x16xf32>) -> tensor<?x2x?xf32> {
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks
      : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
      -> tensor<?x2x?xf32>, tensor<?x2x?xf32>, tensor<?x2x?xf32>
  // expected-error @+1 {{'arith.addf' is not supported in a loss function: its body must be one mha.attention_kl of the function arguments}}
  %sum = arith.addf %kl, %lt : tensor<?x2x?xf32>
  return %sum : tensor<?x2x?xf32>
}

// -----

// The work items keep their tiles on the stack: head dims whose tiles do
// not fit the budget are refused (here the gradient's query item).
func.func @wide(%qt: tensor<?x2x?x1024xf32>, %kt: tensor<?x2x?x1024xf32>, %qs: tensor<?x2x?x1024xf32>,
                %ks: tensor<?x2x?x1024xf32>) -> (tensor<?x2x?xf32>, tensor<?x2x?xf32>, tensor<?x2x?xf32>)
    attributes {mha.backward} {
  // expected-error @+1 {{head dims D_t = 1024, D_s = 1024 need 1204224 bytes of scratch per work item, more than the 1048576 allowed}}
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks
      : tensor<?x2x?x1024xf32>, tensor<?x2x?x1024xf32>, tensor<?x2x?x1024xf32>, tensor<?x2x?x1024xf32>
      -> tensor<?x2x?xf32>, tensor<?x2x?xf32>, tensor<?x2x?xf32>
  return %kl, %lt, %ls : tensor<?x2x?xf32>, tensor<?x2x?xf32>, tensor<?x2x?xf32>
}

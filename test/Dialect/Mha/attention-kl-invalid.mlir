// RUN: mha-opt %s -split-input-file -verify-diagnostics

// Every diagnostic of mha.attention_kl's verifier and of mha.backward on a
// loss function names the operand, attribute or result at fault.

func.func @rank(%qt: tensor<2x4x8xf32>, %kt: tensor<2x4x8x16xf32>, %qs: tensor<2x4x8x16xf32>,
                %ks: tensor<2x4x8x16xf32>) -> tensor<2x4x8xf32> {
  // expected-error @+1 {{'teacher_query' must be a ranked tensor of rank 4 [B, Hq, Lq, D]}}
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks
      : tensor<2x4x8xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>
      -> tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>
  return %kl : tensor<2x4x8xf32>
}

// -----

func.func @mixed_types(%qt: tensor<2x4x8x16xf32>, %kt: tensor<2x4x8x16xbf16>, %qs: tensor<2x4x8x16xf32>,
                       %ks: tensor<2x4x8x16xf32>) -> tensor<2x4x8xf32> {
  // expected-error @+1 {{'teacher_key' element type 'bf16' must match 'teacher_query' element type 'f32'}}
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks
      : tensor<2x4x8x16xf32>, tensor<2x4x8x16xbf16>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>
      -> tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>
  return %kl : tensor<2x4x8xf32>
}

// -----

func.func @head_dim(%qt: tensor<2x4x8x16xf32>, %kt: tensor<2x4x8x32xf32>, %qs: tensor<2x4x8x16xf32>,
                    %ks: tensor<2x4x8x16xf32>) -> tensor<2x4x8xf32> {
  // expected-error @+1 {{'teacher_key' head dim (dim 3) is 32 but 'teacher_query' has 16}}
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks
      : tensor<2x4x8x16xf32>, tensor<2x4x8x32xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>
      -> tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>
  return %kl : tensor<2x4x8xf32>
}

// -----

func.func @kv_heads(%qt: tensor<2x4x8x16xf32>, %kt: tensor<2x3x8x16xf32>, %qs: tensor<2x4x8x16xf32>,
                    %ks: tensor<2x4x8x16xf32>) -> tensor<2x4x8xf32> {
  // expected-error @+1 {{'teacher_key' head count (dim 1) 3 must divide the query head count 4}}
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks
      : tensor<2x4x8x16xf32>, tensor<2x3x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>
      -> tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>
  return %kl : tensor<2x4x8xf32>
}

// -----

func.func @student_heads(%qt: tensor<2x4x8x16xf32>, %kt: tensor<2x4x8x16xf32>, %qs: tensor<2x2x8x16xf32>,
                         %ks: tensor<2x2x8x16xf32>) -> tensor<2x4x8xf32> {
  // expected-error @+1 {{'student_query' head count (dim 1) is 2 but 'teacher_query' has 4}}
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks
      : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>
      -> tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>
  return %kl : tensor<2x4x8xf32>
}

// -----

func.func @key_len(%qt: tensor<2x4x8x16xf32>, %kt: tensor<2x4x8x16xf32>, %qs: tensor<2x4x8x16xf32>,
                   %ks: tensor<2x4x9x16xf32>) -> tensor<2x4x8xf32> {
  // expected-error @+1 {{'student_key' key length (dim 2) is 9 but 'teacher_key' has 8}}
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks
      : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x9x16xf32>
      -> tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>
  return %kl : tensor<2x4x8xf32>
}

// -----

func.func @dynamic_heads(%qt: tensor<2x?x8x16xf32>, %kt: tensor<2x4x8x16xf32>, %qs: tensor<2x4x8x16xf32>,
                         %ks: tensor<2x4x8x16xf32>) -> tensor<2x4x8xf32> {
  // expected-error @+1 {{'teacher_query' head count (dim 1) must be static, got ?}}
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks
      : tensor<2x?x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>
      -> tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>
  return %kl : tensor<2x4x8xf32>
}

// -----

func.func @scale(%qt: tensor<2x4x8x16xf32>, %kt: tensor<2x4x8x16xf32>, %qs: tensor<2x4x8x16xf32>,
                 %ks: tensor<2x4x8x16xf32>) -> tensor<2x4x8xf32> {
  // expected-error @+1 {{'teacher_scale' must be finite and non-zero, got 0}}
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks {teacher_scale = 0.0 : f32}
      : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>
      -> tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>
  return %kl : tensor<2x4x8xf32>
}

// -----

func.func @misspelt(%qt: tensor<2x4x8x16xf32>, %kt: tensor<2x4x8x16xf32>, %qs: tensor<2x4x8x16xf32>,
                    %ks: tensor<2x4x8x16xf32>) -> tensor<2x4x8xf32> {
  // expected-error @+1 {{has unknown attribute 'casual'}}
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks {casual}
      : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>
      -> tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>
  return %kl : tensor<2x4x8xf32>
}

// -----

func.func @result(%qt: tensor<2x4x8x16xf32>, %kt: tensor<2x4x8x16xf32>, %qs: tensor<2x4x8x16xf32>,
                  %ks: tensor<2x4x8x16xf32>) -> tensor<2x4x8xf16> {
  // expected-error @+1 {{result 'kl' must be 'tensor<2x4x8xf32>' [B, Hq, Lq], got 'tensor<2x4x8xf16>'}}
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks
      : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>
      -> tensor<2x4x8xf16>, tensor<2x4x8xf32>, tensor<2x4x8xf32>
  return %kl : tensor<2x4x8xf16>
}

// -----

// expected-error @+1 {{'mha.backward' needs 'no_lse' to return the kl, teacher_lse and student_lse of its mha.attention_kl}}
func.func @no_lse(%qt: tensor<2x4x8x16xf32>, %kt: tensor<2x4x8x16xf32>, %qs: tensor<2x4x8x16xf32>,
                  %ks: tensor<2x4x8x16xf32>) -> tensor<2x4x8xf32> attributes {mha.backward} {
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks
      : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>
      -> tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>
  return %kl : tensor<2x4x8xf32>
}

// Distillation losses of MiniLM (docs/language.md 4.9): a BERT-base teacher
// (12 heads of 64) and a 384-wide student seen as 12 relation heads of 32,
// f32, bidirectional. `attention_transfer` compares the attention
// distributions of each head's queries and keys; `value_relation` compares
// the value-value relations (the same loss with each model's values as
// queries and keys). Both export the student's gradient
// (`<name>_backward`, from the lse they return).

func.func @attention_transfer(%qt: tensor<?x12x?x64xf32>, %kt: tensor<?x12x?x64xf32>,
                              %qs: tensor<?x12x?x32xf32>, %ks: tensor<?x12x?x32xf32>)
    -> (tensor<?x12x?xf32>, tensor<?x12x?xf32>, tensor<?x12x?xf32>) attributes {mha.backward} {
  // kl [B, 12, L]: per query row, KL(teacher's attention || student's).
  %kl, %lse_t, %lse_s = mha.attention_kl %qt, %kt, %qs, %ks
      : tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32>, tensor<?x12x?x32xf32>, tensor<?x12x?x32xf32>
      -> tensor<?x12x?xf32>, tensor<?x12x?xf32>, tensor<?x12x?xf32>
  return %kl, %lse_t, %lse_s : tensor<?x12x?xf32>, tensor<?x12x?xf32>, tensor<?x12x?xf32>
}

func.func @value_relation(%vt: tensor<?x12x?x64xf32>, %vt2: tensor<?x12x?x64xf32>,
                          %vs: tensor<?x12x?x32xf32>, %vs2: tensor<?x12x?x32xf32>)
    -> (tensor<?x12x?xf32>, tensor<?x12x?xf32>, tensor<?x12x?xf32>) attributes {mha.backward} {
  // Call it with the same tensor twice per model (v_t, v_t, v_s, v_s); the
  // gradient of v_s is dq_s + dk_s.
  %kl, %lse_t, %lse_s = mha.attention_kl %vt, %vt2, %vs, %vs2
      : tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32>, tensor<?x12x?x32xf32>, tensor<?x12x?x32xf32>
      -> tensor<?x12x?xf32>, tensor<?x12x?xf32>, tensor<?x12x?xf32>
  return %kl, %lse_t, %lse_s : tensor<?x12x?xf32>, tensor<?x12x?xf32>, tensor<?x12x?xf32>
}

//===- MhaDialect.td - The mha dialect ---------------------*- tablegen -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_DIALECT_MHA_DIALECT_TD
#define MHA_DIALECT_MHA_DIALECT_TD

include "mlir/IR/OpBase.td"

def Mha_Dialect : Dialect {
  let name = "mha";
  let cppNamespace = "::mlir::mha";
  let summary = "Multi-head attention and its variants as first-class IR";
  let description = [{
    The `mha` dialect describes attention the way a model author thinks of
    it: query, key and value heads, how key/value heads are shared between
    query heads (multi-head, grouped-query, multi-query), which keys each head
    may see (causal, sliding windows per head, attention sinks), and how
    scores are shaped (scale, per-head temperature, softcap, ALiBi). Every
    variant is a typed attribute, so passes read the variant instead of
    pattern-matching a soup of arithmetic.

    `mha.attention` is the attention itself; `mha.multi_head` is the whole
    layer with its projections. The compiler lowers both to flash-attention
    style online-softmax loops (see `mha-opt --mha-cpu-pipeline`).
  }];
  let useDefaultAttributePrinterParser = 1;
  // `mha.backward` on a func.func (docs/language.md, 7.1): checked by
  // verifyOperationAttribute.
  let hasOperationAttrVerify = 1;
  let extraClassDeclaration = [{
    /// The unit attribute that asks for `<name>_backward`.
    static constexpr ::llvm::StringLiteral kBackwardAttrName = "mha.backward";
  }];
}

class Mha_Op<string mnemonic, list<Trait> traits = []>
    : Op<Mha_Dialect, mnemonic, traits>;

#endif // MHA_DIALECT_MHA_DIALECT_TD

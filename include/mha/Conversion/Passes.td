//===- Passes.td - Conversions out of the mha dialect ------*- tablegen -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_CONVERSION_PASSES_TD
#define MHA_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertMhaToVectorPass : Pass<"convert-mha-to-vector"> {
  let summary = "Lower the tiled online-softmax ops to loops over vectors";
  let description = [{
    Rewrites `mha.online_softmax_step`, `mha.online_softmax_finalize` and
    `mha.attention_probs` into `scf.for` loops whose bodies work on
    `vector<D x f32>` rows: dot products as vector multiply + reduction,
    `P.V` as vector FMAs into the accumulator row, masks as index compares,
    softmax in base 2 with `math.exp2`. f16/bf16 tiles are widened to f32 on
    load and narrowed on store.

    Before:
    ```mlir
    mha.online_softmax_step ins(%q, %k, %v : ...) outs(%acc, %m, %l, %t : ...)
        scale(%s, %a) at(%p, %j) window(%wl, %wr, %sinks) {causal, masked}
    ```
    After (abridged):
    ```mlir
    scf.for %r = %c0 to %rows step %c1 {
      %qrow = vector.transfer_read %q[%r, %c0] ... : vector<64xf32>
      scf.for %c = %c0 to %cols step %c1 { ... vector.reduction <add> ... }
      ...
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect"
  ];
}

#endif // MHA_CONVERSION_PASSES_TD

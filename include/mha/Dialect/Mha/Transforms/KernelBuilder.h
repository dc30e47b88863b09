//===- KernelBuilder.h - TEMPORARY forwarding to mha/Codegen -----*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// TEMPORARY while the emitters move onto mha/Codegen (issue 16); deleted
// when the last user is gone.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_DIALECT_MHA_TRANSFORMS_KERNELBUILDER_H
#define MHA_DIALECT_MHA_TRANSFORMS_KERNELBUILDER_H

#include "mha/Codegen/Builder.h"
#include "mha/Codegen/EntryPoint.h"
#include "mha/Codegen/HeadParams.h"
#include "mha/Codegen/KeyVisibility.h"

namespace mlir::mha {

class KernelBuilder : public CodegenBuilder {
public:
  KernelBuilder(OpBuilder &b, Location loc, Operation *symbolTable,
                StringRef prefix)
      : CodegenBuilder(b, loc), tables(*this, symbolTable, prefix) {}
  Value minIdx(Value x, Value y) { return minSI(x, y); }
  Value maxIdx(Value x, Value y) { return maxSI(x, y); }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) { return cmpI(p, x, y); }
  Value perHeadF32(StringRef name, ArrayRef<float> values, Value h) {
    return tables.f32(name, values, h);
  }
  Value perHeadIndex(StringRef name, ArrayRef<int64_t> values, Value h) {
    return tables.index(name, values, h);
  }
  Value perHeadBool(StringRef name, ArrayRef<bool> values, Value h) {
    return tables.boolean(name, values, h);
  }

private:
  ConstantTables tables;
};

inline KeyRanges computeKeyRanges(KernelBuilder &w,
                                  const AttentionVariant &variant, Value row0,
                                  Value rows, Value queryLen, Value keyLen,
                                  Value windowLeft, Value windowRight,
                                  Value sinks) {
  return computeKeyRanges(w, {variant.causal, windowLeft, windowRight, sinks},
                          row0, rows, queryLen, keyLen);
}
inline Value windowTileNeedsMask(KernelBuilder &w,
                                 const AttentionVariant &variant,
                                 const KeyRanges &ranges, Value j0, Value j1,
                                 Value windowLeft, Value windowRight) {
  return windowTileNeedsMask(
      w, {variant.causal, windowLeft, windowRight, Value()}, ranges, j0, j1);
}
inline Value sinkTileNeedsMask(KernelBuilder &w,
                               const AttentionVariant &variant,
                               const KeyRanges &ranges, Value j1) {
  return sinkTileNeedsMask(w, {variant.causal, Value(), Value(), Value()},
                           ranges, j1);
}

} // namespace mlir::mha

#endif // MHA_DIALECT_MHA_TRANSFORMS_KERNELBUILDER_H

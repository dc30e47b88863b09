//===- MhaOps.h - Operations of the mha dialect -----------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_DIALECT_MHA_IR_MHAOPS_H
#define MHA_DIALECT_MHA_IR_MHAOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "mha/Dialect/Mha/IR/MhaAttrs.h"
#include "mha/Dialect/Mha/IR/MhaDialect.h"

namespace mlir::mha {

/// The sizes of an mha.head_linear (or mha.head_gemm) from its shapes:
/// each head reduces K columns of x against its K x N weight slice and
/// carries C more columns of x to y.
struct HeadLinearDims {
  int64_t k = 0, n = 0, carry = 0;
  // Columns per head of x, y and the weight.
  int64_t xStride = 0, yStride = 0, weightStride = 0;

  static HeadLinearDims get(ShapedType x, ShapedType w, ShapedType y,
                            int64_t heads, bool transposed) {
    HeadLinearDims d;
    d.xStride = x.getShape().back() / heads;
    d.yStride = y.getShape().back() / heads;
    d.weightStride = w.getDimSize(1) / heads;
    int64_t rows = w.getDimSize(0);
    if (transposed) {
      d.n = rows;
      d.carry = d.yStride - rows;
      d.k = d.xStride - d.carry;
    } else {
      d.k = rows;
      d.carry = d.xStride - rows;
      d.n = d.yStride - d.carry;
    }
    return d;
  }

  /// Fails with an error on `op` unless the shapes make sizes K, N >= 1
  /// and C >= 0, the weight slice fits in each head's columns at `offset`
  /// and the element types are floats (LayerOps.cpp).
  static FailureOr<HeadLinearDims> verify(Operation *op, ShapedType x,
                                          ShapedType w, ShapedType y,
                                          int64_t heads, int64_t offset,
                                          bool transposed);
};

} // namespace mlir::mha

#define GET_OP_CLASSES
#include "mha/Dialect/Mha/IR/MhaOps.h.inc"

#endif // MHA_DIALECT_MHA_IR_MHAOPS_H

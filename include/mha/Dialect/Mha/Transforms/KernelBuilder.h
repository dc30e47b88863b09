//===- KernelBuilder.h - Shared pieces of the CPU and GPU kernels -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// What mha-tile (CPU work items) and convert-mha-to-nvvm (GPU kernels) both
// need: which functions can be exported and their C parameters, builder
// shorthands, per-head constants, and the key ranges a block of query rows
// of one head can see. Keeping them in one place keeps the two back ends in
// agreement on the semantics of every variant.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_DIALECT_MHA_TRANSFORMS_KERNELBUILDER_H
#define MHA_DIALECT_MHA_TRANSFORMS_KERNELBUILDER_H

#include "mha/Dialect/Mha/IR/AttentionVariant.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::mha {

/// A C parameter of an exported function: which tensor it is and what role
/// it plays.
struct Parameter {
  Type tensorType;
  TensorRole role;
};

/// The functions of `module` that compute mha ops, in order; an error (and
/// failure) for a private one, which cannot be exported.
FailureOr<SmallVector<func::FuncOp>> collectExportedFunctions(ModuleOp module);

/// Checks that `func` is a function mha-compile can export: it computes one
/// mha.attention of its arguments and returns its results.
FailureOr<AttentionOp> matchExportableFunction(func::FuncOp func);

/// The C parameters of an exportable function: its arguments, then its
/// results in return order.
SmallVector<Parameter> getExportedParameters(func::FuncOp func,
                                             AttentionOp attention);

/// The shapes of an mha.attention: q [B, Hq, Lq, D], k [B, Hkv, Lk, D],
/// v [B, Hkv, Lk, Dv].
struct AttentionShape {
  RankedTensorType query, key, value;
  int64_t numHeads, numKvHeads, headDim, valueDim;

  static AttentionShape get(AttentionOp attention);
};

/// In a kernel whose arguments start with the C parameters of `func` (its
/// arguments, then its returned values), the block argument standing for
/// `tensor` (an argument or result of `func`); null for a null tensor.
Value getParameterArgument(func::FuncOp func, Block &kernelBody, Value tensor);

/// The strided memref a tensor parameter becomes: any strides, last dim
/// contiguous, any offset.
MemRefType getParameterMemRefType(RankedTensorType type);

/// Shorthands for index and f32 arithmetic at one location, and per-head
/// constants: a constant when all heads agree, else a load from a constant
/// table (a memref.global in `symbolTable`, which may be a builtin.module or
/// a gpu.module).
class KernelBuilder {
public:
  KernelBuilder(OpBuilder &b, Location loc, Operation *symbolTable,
                StringRef prefix)
      : b(b), loc(loc), symbolTable(symbolTable), prefix(prefix) {}

  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value f32(float v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value i32(int32_t v) {
    return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v));
  }
  Value boolean(bool v) {
    return arith::ConstantOp::create(b, loc, b.getBoolAttr(v));
  }
  Value minIdx(Value x, Value y) { return arith::MinSIOp::create(b, loc, x, y); }
  Value maxIdx(Value x, Value y) { return arith::MaxSIOp::create(b, loc, x, y); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value andI(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }
  Value orI(Value x, Value y) { return arith::OrIOp::create(b, loc, x, y); }

  Value perHeadF32(StringRef name, ArrayRef<float> values, Value h);
  Value perHeadIndex(StringRef name, ArrayRef<int64_t> values, Value h);
  Value perHeadBool(StringRef name, ArrayRef<bool> values, Value h);

  OpBuilder &builder() { return b; }
  Location getLoc() const { return loc; }

private:
  Value loadFromTable(StringRef name, DenseElementsAttr values, Type eltType,
                      Value h);

  OpBuilder &b;
  Location loc;
  Operation *symbolTable;
  StringRef prefix;
};

/// The keys query rows [row0, row0 + rows) of one head may see, as two
/// ranges: the sink keys [0, sinkHi) and the window [windowLo, windowHi).
/// Every visible key is in one of them (they do not overlap); tiles outside
/// both are never visited, which is what makes a local head cost what its
/// window costs.
struct KeyRanges {
  Value pFirst, pLast; // Diagonal keys i + Lk - Lq of the first/last row.
  Value sinkHi;        // Sink keys visible to some row: [0, sinkHi).
  Value windowLo, windowHi;
  Value leftBounded, rightBounded; // window_left / window_right >= 0 (i1).
};

KeyRanges computeKeyRanges(KernelBuilder &w, const AttentionVariant &variant,
                           Value row0, Value rows, Value queryLen,
                           Value keyLen, Value windowLeft, Value windowRight,
                           Value sinks);

/// Whether a key tile [j0, j1) of the window range needs the per-key mask
/// for some row of the block (the causal diagonal or a window edge crosses
/// it); tiles that need none run the unmasked step.
Value windowTileNeedsMask(KernelBuilder &w, const AttentionVariant &variant,
                          const KeyRanges &ranges, Value j0, Value j1,
                          Value windowLeft, Value windowRight);

/// Whether a tile [j0, j1) of the sink range needs the mask (only the
/// causal diagonal can hide sink keys).
Value sinkTileNeedsMask(KernelBuilder &w, const AttentionVariant &variant,
                        const KeyRanges &ranges, Value j1);

} // namespace mlir::mha

#endif // MHA_DIALECT_MHA_TRANSFORMS_KERNELBUILDER_H

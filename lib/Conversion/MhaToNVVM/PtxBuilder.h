//===- PtxBuilder.h - PTX and NVVM instructions of the kernels --*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Private to lib/Conversion/MhaToNVVM: the GPU instructions the flash kernel
// is made of, each built the one way the kernel needs it: approximate
// float intrinsics, quad shuffles, mma.sync and ldmatrix fragments, the
// cp.async group wait, wgmma matrix descriptors and warpgroup MMAs, and the
// inline PTX of mbarriers, TMA loads and register reallocation.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_CONVERSION_MHATONVVM_PTXBUILDER_H
#define MHA_LIB_CONVERSION_MHATONVVM_PTXBUILDER_H

#include "mha/Codegen/Builder.h"

#include <array>

namespace mlir::mha {

inline constexpr int64_t kWarpSize = 32;

/// The four f32 accumulators of one 16x8 MMA tile held by a thread:
/// elements (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1) with g = lane / 4
/// and t = lane % 4. wgmma's m64nN accumulators have the same layout per
/// warp, one Frag per 8 columns.
using Frag = std::array<Value, 4>;

/// A thread's place in its warp and in the warp's fragments: the lane and
/// warp of thread `tid`; mma.m16n8k16's groupID (lane / 4) and
/// threadID_in_group (lane % 4); the rows and halves ldmatrix addresses
/// (lane % 8 and lane / 8 for 8x8 matrices, lane % 16 and lane / 16 for
/// 16-row ones). The kernels' emitters derive from it.
struct WarpLanes {
  Value lane, warp, groupId, threadInGroup;
  Value laneRow8, laneOct, laneRow16, laneHalf;

  void computeLanes(CodegenBuilder &cb, Value tid);
};

class PtxBuilder {
public:
  /// `elementType` is the MMA operand type, f16 or bf16.
  PtxBuilder(CodegenBuilder &cb, Type elementType);

  Type getElementType() const { return elt; }

  // Float intrinsics rather than arith/math ops, which convert-gpu-to-nvvm
  // would turn into libdevice calls (no CUDA toolkit is needed for the PTX).
  Value fmax(Value x, Value y);
  /// ex2.approx.ftz.f32.
  Value exp2(Value x);
  /// lg2.approx.ftz.f32.
  Value log2(Value x);
  /// tanh.approx.f32 (sm_75+): NVPTX selects it for an afn llvm.tanh.
  Value tanh(Value x);
  /// sin.approx.f32 and cos.approx.f32: approximate, accurate on small
  /// arguments only (callers reduce theirs to [-pi, pi] first).
  Value sin(Value x);
  Value cos(Value x);
  /// f64 `x` rounded to the nearest integer, ties to even (cvt.rni.f64).
  Value roundEven64(Value x);
  /// The max (or sum) of `x` over the 4 threads of a quad (the threads
  /// holding one row of an MMA tile).
  Value quadReduce(Value x, bool isMax);

  // mma.sync m16n8k16.
  /// A pair of 16-bit elements as an mma.sync operand register.
  Value asOperand(Value pairValue);
  /// ldmatrix of `tiles` 8x8 matrices of `smem` at this lane's row/col;
  /// returns one operand register per matrix.
  SmallVector<Value> ldmatrix(Value smem, ValueRange indices, int64_t tiles,
                              bool transpose);
  /// c + a.b on one 16x8 tile (a: 4 registers, b: 2).
  Frag mma(ArrayRef<Value> a, ArrayRef<Value> bRegs, const Frag &c);

  /// Waits for this thread's cp.async copies; with `fenceAsyncProxy` also
  /// makes them visible to the async proxy (wgmma reads shared memory
  /// through it).
  void waitAsyncCopies(bool fenceAsyncProxy);

  // Warpgroup MMA (sm_90a).
  /// wgmma matrix descriptor of a 128-byte-swizzled operand at shared
  /// address `addr` (i64): `lbo` and `sbo` are the byte strides between
  /// 64-column atoms and between 8-row groups.
  Value wgmmaDescriptor(Value addr, int64_t lbo, int64_t sbo);
  /// acc += A.B on the warpgroup, one k16 step per entry of `bDescs`, with
  /// A from descriptors (`aDescs`) or registers (`aRegs`, four i32 per
  /// step); N = acc.size() * 2 columns. One asm statement from fence to
  /// wait, so that nothing reads the accumulators before the MMAs are done.
  SmallVector<Value> warpgroupMma(ArrayRef<Value> acc, ArrayRef<Value> aDescs,
                                  ArrayRef<SmallVector<Value>> aRegs,
                                  ArrayRef<Value> bDescs, bool transposeB);

  // Inline PTX: mbarriers (shared addresses as i32), TMA, setmaxnreg.
  /// A PTX statement with side effects and no results.
  void ptx(StringRef text, StringRef constraints, ValueRange operands);
  void mbarrierInit(Value bar, Value count);
  /// Makes the mbarrier initialisations visible (to the async proxy too).
  void fenceMbarrierInit();
  /// Spins until the phase of parity `parity` (i32) of the mbarrier at
  /// `bar` has completed.
  void mbarrierWait(Value bar, Value parity);
  void mbarrierArrive(Value bar);
  /// Arrives and expects `bytes` (i32) of asynchronous transfers.
  void mbarrierArriveExpectTx(Value bar, Value bytes);
  /// cp.async.bulk.tensor.4d of the box at `coords` (four i32) of the
  /// tensor map at `tensorMap` (i64 device address) to shared `dst`,
  /// completing on the mbarrier `bar`.
  void tmaLoad(Value dst, Value tensorMap, ArrayRef<Value> coords, Value bar);
  /// setmaxnreg.inc/dec: this warpgroup's registers per thread.
  void setMaxRegisters(int64_t count, bool increase);

  /// An i32 or i64 constant.
  Value i32(int64_t v);
  Value i64(int64_t v);
  /// `index` as an i32 / i64.
  Value toI32(Value index);
  Value toI64(Value index);

private:
  CodegenBuilder &cb;
  OpBuilder &b;
  Location loc;
  Type elt, f32Type, i32Type;
};

} // namespace mlir::mha

#endif // MHA_LIB_CONVERSION_MHATONVVM_PTXBUILDER_H

//===- MicroKernels.h - Register-blocked vector products --------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The parts every register-blocked micro-kernel of the CPU back end is made
// of, whichever product it computes (the attention's S = Q.K^T and
// acc += P.V of mha.online_softmax_step, the layer GEMMs of mha.gemm_tile,
// the backward's S, dP, dV, dK and dQ products of mha-tile-backward):
//
//   for k in [0, n):                      (scf.for carrying rows x vectors
//     b[j] = rhs(k, j)       j < vectors   f32 accumulators)
//     for i < rows:
//       a = lhs(k, i)                     (one element broadcast to a vector)
//       acc[i][j] = product(a, b[j], acc[i][j])
//
// where the product is a vector FMA (DotProduct::fma: a and b[j] are f32
// vectors) or vdpbf16ps (DotProduct::bf16_pairs, x86vector.avx512.dot: a is
// one bf16 pair broadcast to every 32-bit lane, b[j] vw pairs, and each f32
// lane adds a0 b0 + a1 b1).
//
//===----------------------------------------------------------------------===//

#ifndef MHA_CODEGEN_MICROKERNELS_H
#define MHA_CODEGEN_MICROKERNELS_H

#include "mha/Codegen/Builder.h"
#include "mha/Dialect/Mha/IR/MhaAttrs.h"

#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace mlir::mha::vec {

/// vector<n x f32>.
VectorType getF32Vector(CodegenBuilder &cb, int64_t n);
/// vector<2 n x bf16>: n bf16 pairs, one per f32 lane.
VectorType getPairVector(CodegenBuilder &cb, int64_t n);

/// `scalar` in every lane of a vector<n x type(scalar)>.
Value broadcast(CodegenBuilder &cb, Value scalar, int64_t n);

/// The 32-bit pair at `indices` of `memref` in every 32-bit lane of a
/// vector<2 vw x bf16>: two bf16 elements (the one at `indices` first), or
/// with `single` that element and a zero; an f32 memref holds the pair as
/// the bits of one f32 (P rounded by vcvtneps2bf16 and stored over S).
Value broadcastPair(CodegenBuilder &cb, Value memref, ValueRange indices,
                    int64_t vw, bool single = false);

/// vw bf16 pairs (2 vw elements) of a bf16 memref at `indices`.
Value loadPairs(CodegenBuilder &cb, Value memref, ValueRange indices,
                int64_t vw);

/// `v` (a float scalar or vector) widened to f32; f32 as it is.
Value widen(CodegenBuilder &cb, Value v);

/// Whether the micro-kernels should read copies of the rows of `m` (rows
/// along dimension `rowDim`, `rowElems` elements each, unit last stride)
/// rather than the rows in place: true (i1) when the rows are not
/// contiguous (a [B, L, H, D] view: rows a multiple of 4 KiB apart evict
/// each other from L1) or do not start on a 64-byte line (each vector load
/// would span two lines: NumPy's arrays start 16 bytes into one).
Value rowsNeedCopy(CodegenBuilder &cb, Value m, int64_t rowDim,
                   int64_t rowElems);

/// The `vw` elements of `m` at `prefix..., col + i` for i < valid (0
/// beyond), widened to f32 (from a 16-bit float or a signed integer). f32
/// uses a masked
/// load; 16-bit types gather lanes at clamped (in-bounds) columns (masked
/// 16-bit loads legalise to libgcc helpers Debian's libgcc lacks).
Value loadTail(CodegenBuilder &cb, int64_t vw, Value m, ValueRange prefix,
               Value col, Value valid);
/// Stores lanes i < valid of the f32 vector `value` to `m` at `prefix...,
/// col + i`, narrowed to its element type (16-bit types lane by lane).
void storeTail(CodegenBuilder &cb, int64_t vw, Value value, Value m,
               ValueRange prefix, Value col, Value valid);

/// Stores the f32 vector `value` to `m` at `prefix..., col`, narrowed to
/// its element type: all `vw` lanes when `valid` is null, else storeTail.
void storeVector(CodegenBuilder &cb, int64_t vw, Value value, Value m,
                 ValueRange prefix, Value col, Value valid);

/// The shape of a register block: rows x vectors accumulators and how the
/// products are formed.
struct RegisterBlock {
  int64_t rows, vectors;
  DotProduct dot;
};

/// One step of the block: `rhs(j)` for every vector j, then for each row i
/// `lhs(i)` and its products into `accs` (row-major, rows x vectors);
/// returns the new accumulators. `lhs` gives a broadcast f32 vector (fma)
/// or a broadcast pair (bf16_pairs), `rhs` an f32 vector or vw pairs.
SmallVector<Value> emitBlockStep(CodegenBuilder &cb, const RegisterBlock &block,
                                 ValueRange accs,
                                 function_ref<Value(int64_t)> rhs,
                                 function_ref<Value(int64_t)> lhs);

/// The block's loop over k in [0, n) starting from `init`: `begin(k)` (may
/// be null) then emitBlockStep with `rhs(k, j)` and `lhs(k, i)`. Returns
/// the final accumulators.
SmallVector<Value> emitBlockLoop(CodegenBuilder &cb, const RegisterBlock &block,
                                 Value n, ValueRange init,
                                 function_ref<void(Value)> begin,
                                 function_ref<Value(Value, int64_t)> rhs,
                                 function_ref<Value(Value, int64_t)> lhs);

} // namespace mlir::mha::vec

#endif // MHA_CODEGEN_MICROKERNELS_H

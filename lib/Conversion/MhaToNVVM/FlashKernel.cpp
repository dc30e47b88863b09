//===- FlashKernel.cpp - The flash-attention kernel body ------------------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Builds the body of one GPU kernel: a CTA of `warps` warps, each with
// `rowTilesPerWarp` tiles of 16 query rows, of one batch and one head (or,
// with GQA packing, several heads of one KV group). Q is copied to shared
// memory once and read as mma.sync A fragments (kept in registers with one
// row tile per warp); K/V tiles of `cols` keys stream through two
// shared-memory stages with cp.async, the copy of tile i+1 overlapping the
// math of tile i. Per key tile and warp:
//   S = Q.K^T     m16n8k16 MMAs, K fragments by ldmatrix (shared by the
//                 warp's row tiles)
//   score mods    scale/temperature, softcap, ALiBi in f32 registers; the
//                 masks only on tiles a mask edge crosses
//   softmax       base 2, row max by quad shuffles, ex2.approx
//   O += P.V      P re-packed from the S accumulators as A fragments
//                 (FlashAttention-2's register reuse), V by ldmatrix.trans
// Fragment layouts are those of PTX's mma.m16n8k16 (groupID = lane / 4,
// threadID_in_group = lane % 4): a thread holds S/O elements (g, 2t..2t+1)
// and (g + 8, 2t..2t+1) of each 8-column tile.
//
// The sm_90a variant (warpgroupMma) keeps the loop and the softmax but
// multiplies with wgmma: each warpgroup's 64 rows of Q times the whole key
// tile from 128-byte-swizzled shared memory, and P (from the S registers,
// whose layout per warp is the same) times V. With tmaLoads a producer
// warpgroup streams K/V by TMA through mbarrier-guarded stages
// (docs/gpu.md describes both).
//
//===----------------------------------------------------------------------===//

#include "FlashKernel.h"

#include "mha/Dialect/Mha/Transforms/KernelBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::mha;

namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr int64_t kWarpSize = 32;

/// The per-head values a row tile needs.
struct HeadParams {
  Value head, scoreScale, alibiSlope, windowLeft, windowRight, alive;
};

/// The four f32 accumulators of one 16x8 MMA tile held by a thread:
/// elements (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1). wgmma's m64nN
/// accumulators have the same layout per warp, one Frag per 8 columns.
using Frag = std::array<Value, 4>;

/// A tile of shared memory: `stages` copies of `rows` x width elements.
/// Padded tiles are [stage, row, col] views; swizzled ones (wgmma) live in
/// one flat buffer at `offset` elements, each stage split into 64-column
/// atoms of `rows` x 128 bytes whose 16-byte chunks are XOR-swizzled by
/// row % 8 (the 128-byte swizzle of wgmma descriptors and TMA).
struct SmemTile {
  Value mem;
  int64_t offset = 0, stageElems = 0, rows = 0;
  bool swizzled = false;
};

class FlashKernelEmitter {
public:
  FlashKernelEmitter(OpBuilder &b, Location loc, gpu::GPUModuleOp module,
                     const FlashKernelConfig &config,
                     const AttentionVariant &variant, StringRef prefix)
      : b(b), loc(loc), w(b, loc, module, prefix), cfg(config),
        variant(variant) {
    f32 = b.getF32Type();
    i32 = b.getI32Type();
    elt = cfg.elementType;
    pair = VectorType::get({2}, elt);
  }

  void emit(gpu::GPUFuncOp func, const FlashKernelArgs &args);

private:
  // Small helpers.
  Value idx(int64_t v) { return w.index(v); }
  Value cf(float v) { return w.f32(v); }
  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value fsub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  // Intrinsics rather than arith/math ops, which convert-gpu-to-nvvm would
  // turn into libdevice calls (no CUDA toolkit is needed for the PTX).
  Value fmax(Value x, Value y) {
    return LLVM::CallIntrinsicOp::create(b, loc, f32,
                                         b.getStringAttr("llvm.maxnum.f32"),
                                         ValueRange{x, y})
        .getResult(0);
  }
  Value intrinsic(StringRef name, Value x) {
    return LLVM::CallIntrinsicOp::create(b, loc, f32, b.getStringAttr(name),
                                         ValueRange{x})
        .getResult(0);
  }
  Value exp2(Value x) { return intrinsic("llvm.nvvm.ex2.approx.ftz.f32", x); }
  Value log2(Value x) { return intrinsic("llvm.nvvm.lg2.approx.ftz.f", x); }
  /// tanh.approx.f32 (sm_75+): NVPTX selects it for an afn llvm.tanh.
  Value tanh(Value x) {
    return LLVM::CallIntrinsicOp::create(
               b, loc, f32, b.getStringAttr("llvm.tanh.f32"), ValueRange{x},
               LLVM::FastmathFlagsAttr::get(b.getContext(),
                                            LLVM::FastmathFlags::afn))
        .getResult(0);
  }
  Value quadReduce(Value x, bool isMax);
  Value ceilDiv(Value x, int64_t d) {
    return arith::DivUIOp::create(b, loc, w.add(x, idx(d - 1)), idx(d));
  }

  /// A pair of 16-bit elements as an mma.sync operand register.
  Value asOperand(Value pairValue) {
    if (elt.isBF16())
      return LLVM::BitcastOp::create(b, loc, i32, pairValue);
    return pairValue;
  }
  /// ldmatrix of `tiles` 8x8 matrices of `smem` at this lane's row/col;
  /// returns one operand register per matrix.
  SmallVector<Value> ldmatrix(Value smem, ValueRange indices, int64_t tiles,
                              bool transpose);
  Frag mma(ArrayRef<Value> a, ArrayRef<Value> bRegs, const Frag &c);

  /// Copies `numRows` rows of `width` elements of `src` (a [rows, width]
  /// subview starting at `srcRow0`, rows >= `srcRows` zero-filled) into
  /// `dst[stage]` with 16-byte cp.async.
  void copyRows(Value src, ValueRange srcPrefix, Value srcRow0, Value srcRows,
                const SmemTile &dst, Value stage, int64_t numRows,
                int64_t width, int64_t dstRow0 = 0);
  /// The indices of element (row, col) of `tile[stage]`; `col` is a
  /// multiple of 8.
  SmallVector<Value> smemIndex(const SmemTile &tile, Value stage, Value row,
                               Value col);

  /// A PTX statement with side effects and no results.
  void ptx(StringRef text, StringRef constraints, ValueRange operands) {
    LLVM::InlineAsmOp::create(
        b, loc, TypeRange{}, operands, text, constraints,
        /*has_side_effects=*/true, /*is_align_stack=*/false,
        LLVM::TailCallKind::None,
        LLVM::AsmDialectAttr::get(b.getContext(), LLVM::AsmDialect::AD_ATT),
        /*operand_attrs=*/ArrayAttr());
  }
  /// Spins until the phase of parity `parity` (i32) of the mbarrier at
  /// shared address `bar` (i32) has completed.
  void mbarrierWait(Value bar, Value parity) {
    ptx("{\n.reg .pred done;\nmha_wait_${:uid}:\n"
        "mbarrier.try_wait.parity.shared::cta.b64 done, [$0], $1;\n"
        "@!done bra mha_wait_${:uid};\n}",
        "r,r", ValueRange{bar, parity});
  }
  Value i32Of(Value index) {
    return arith::IndexCastOp::create(b, loc, i32, index);
  }

  /// wgmma matrix descriptor of a 128-byte-swizzled operand at shared
  /// address `addr` (i64): `lbo` and `sbo` are the byte strides between
  /// 64-column atoms and between 8-row groups.
  Value wgmmaDescriptor(Value addr, int64_t lbo, int64_t sbo);
  /// acc += A.B on the warpgroup, one k16 step per entry of `bDescs`, with
  /// A from descriptors (`aDescs`) or registers (`aRegs`, four i32 per
  /// step); N = acc.size() * 2 columns. One asm statement from fence to
  /// wait, so that nothing reads the accumulators before the MMAs are done.
  SmallVector<Value> warpgroupMma(ArrayRef<Value> acc,
                                  ArrayRef<Value> aDescs,
                                  ArrayRef<SmallVector<Value>> aRegs,
                                  ArrayRef<Value> bDescs, bool transposeB);

  /// Loads 8 elements of `tile` (zeros when !inBounds), rounds them to the
  /// MMA element type and stores them at `dst[dstIdx]`: f32 specs run on
  /// bf16 tensor cores and rows that are not 16-byte aligned cannot be
  /// copied by cp.async, so both take this synchronous path.
  void stageConverted(Value tile, Value row, Value col, Value inBounds,
                      Value dst, ValueRange dstIdx);

  /// The score of element `e` of key tile `t` after scale, softcap and
  /// ALiBi, in base 2; -inf where invisible when `masked`.
  SmallVector<Value> scoreMods(ArrayRef<Frag> s, const HeadParams &hp,
                               Value rowBase, Value j0, Value jEnd,
                               bool masked);
  /// The parameters of query head `head` (static tables and the runtime
  /// head mask).
  HeadParams headParams(Value head, Value headMask);

  OpBuilder &b;
  Location loc;
  KernelBuilder w;
  const FlashKernelConfig &cfg;
  const AttentionVariant &variant;
  Type f32, i32, elt;
  VectorType pair;

  // Values of the CTA, set by emit().
  Value lane, warp, groupId, threadInGroup, tid;
  Value keyLen, queryLen, diagOffset;
  Value sinks;
};

Value FlashKernelEmitter::quadReduce(Value x, bool isMax) {
  for (int32_t offset : {1, 2}) {
    Value other =
        gpu::ShuffleOp::create(b, loc, x, offset, kWarpSize,
                               gpu::ShuffleMode::XOR)
            .getShuffleResult();
    x = isMax ? fmax(x, other) : fadd(x, other);
  }
  return x;
}

SmallVector<Value> FlashKernelEmitter::ldmatrix(Value smem, ValueRange indices,
                                                int64_t tiles,
                                                bool transpose) {
  auto type = VectorType::get({tiles, 2}, elt);
  Value loaded = nvgpu::LdMatrixOp::create(b, loc, type, smem, indices,
                                           transpose, (uint32_t)tiles);
  SmallVector<Value> regs;
  for (int64_t i = 0; i < tiles; ++i)
    regs.push_back(asOperand(vector::ExtractOp::create(
        b, loc, loaded, ArrayRef<int64_t>{i})));
  return regs;
}

Frag FlashKernelEmitter::mma(ArrayRef<Value> a, ArrayRef<Value> bRegs,
                             const Frag &c) {
  auto resultType = LLVM::LLVMStructType::getLiteral(
      b.getContext(), {f32, f32, f32, f32});
  NVVM::MMATypes type =
      elt.isBF16() ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
  Value d = NVVM::MmaOp::create(
      b, loc, resultType, a, bRegs, ValueRange(c), ArrayRef<int64_t>{16, 8, 16},
      /*b1Op=*/std::nullopt, /*intOverflow=*/std::nullopt,
      std::array<NVVM::MMATypes, 2>{type, type},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  Frag out;
  for (int64_t i = 0; i < 4; ++i)
    out[i] = LLVM::ExtractValueOp::create(b, loc, d, ArrayRef<int64_t>{i});
  return out;
}

Value FlashKernelEmitter::wgmmaDescriptor(Value addr, int64_t lbo,
                                          int64_t sbo) {
  // Bits 0-13: address / 16 (shared addresses stay below 256 KiB), 16-29:
  // leading byte offset / 16, 32-45: stride byte offset / 16, 62-63: 1 =
  // 128-byte swizzle; base offset 0 (atoms are 1024-byte aligned).
  Type i64 = b.getI64Type();
  uint64_t fixed = (uint64_t(lbo >> 4) << 16) | (uint64_t(sbo >> 4) << 32) |
                   (uint64_t(1) << 62);
  Value field = arith::ShRUIOp::create(
      b, loc, addr, arith::ConstantIntOp::create(b, loc, i64, 4));
  return arith::OrIOp::create(
      b, loc, field,
      arith::ConstantIntOp::create(b, loc, i64, static_cast<int64_t>(fixed)));
}

SmallVector<Value> FlashKernelEmitter::warpgroupMma(
    ArrayRef<Value> acc, ArrayRef<Value> aDescs,
    ArrayRef<SmallVector<Value>> aRegs, ArrayRef<Value> bDescs,
    bool transposeB) {
  int64_t m = acc.size(), steps = bDescs.size();
  StringRef type = elt.isBF16() ? "bf16" : "f16";
  std::string text;
  llvm::raw_string_ostream os(text);
  SmallVector<Value> operands;
  SmallVector<std::string> constraints(m, "=f");
  auto operand = [&](Value v, StringRef constraint) {
    operands.push_back(v);
    constraints.push_back(constraint.str());
    return "$" + std::to_string(m + operands.size() - 1);
  };
  std::string scaleD =
      operand(arith::ConstantIntOp::create(b, loc, i32, 1), "r");
  os << "{\n.reg .pred p;\nsetp.ne.b32 p, " << scaleD << ", 0;\n"
     << "wgmma.fence.sync.aligned;\n";
  std::string accList = "{";
  for (int64_t i = 0; i < m; ++i)
    accList += (i ? ", $" : "$") + std::to_string(i);
  accList += "}";
  for (int64_t k = 0; k < steps; ++k) {
    os << "wgmma.mma_async.sync.aligned.m64n" << 2 * m << "k16.f32." << type
       << "." << type << " " << accList << ", ";
    if (aRegs.empty()) {
      os << operand(aDescs[k], "l");
    } else {
      os << "{";
      for (auto [i, r] : llvm::enumerate(aRegs[k]))
        os << (i ? ", " : "") << operand(r, "r");
      os << "}";
    }
    os << ", " << operand(bDescs[k], "l") << ", p, 1, 1";
    if (aRegs.empty())
      os << ", 0"; // A K-major
    os << ", " << (transposeB ? 1 : 0) << ";\n";
  }
  os << "wgmma.commit_group.sync.aligned;\n"
     << "wgmma.wait_group.sync.aligned 0;\n}";
  // The accumulators are read and written: tied inputs.
  for (int64_t i = 0; i < m; ++i) {
    operands.push_back(acc[i]);
    constraints.push_back(std::to_string(i));
  }
  auto resultType = LLVM::LLVMStructType::getLiteral(
      b.getContext(), SmallVector<Type>(m, f32));
  auto asmOp = LLVM::InlineAsmOp::create(
      b, loc, resultType, operands, text, llvm::join(constraints, ","),
      /*has_side_effects=*/true, /*is_align_stack=*/false,
      LLVM::TailCallKind::None,
      LLVM::AsmDialectAttr::get(b.getContext(), LLVM::AsmDialect::AD_ATT),
      /*operand_attrs=*/ArrayAttr());
  SmallVector<Value> out;
  for (int64_t i = 0; i < m; ++i)
    out.push_back(LLVM::ExtractValueOp::create(b, loc, asmOp.getResult(0),
                                               ArrayRef<int64_t>{i}));
  return out;
}

SmallVector<Value> FlashKernelEmitter::smemIndex(const SmemTile &tile,
                                                Value stage, Value row,
                                                Value col) {
  if (!tile.swizzled)
    return {stage, row, col};
  // Element offset of the 16-byte chunk: atom, row, swizzled chunk.
  Value atom = arith::DivUIOp::create(b, loc, col, idx(64));
  Value chunk = arith::DivUIOp::create(
      b, loc, arith::RemUIOp::create(b, loc, col, idx(64)), idx(8));
  Value swizzled = arith::XOrIOp::create(
      b, loc, chunk, arith::RemUIOp::create(b, loc, row, idx(8)));
  Value offset = w.add(idx(tile.offset), w.mul(stage, idx(tile.stageElems)));
  offset = w.add(offset, w.mul(atom, idx(tile.rows * 64)));
  offset = w.add(offset, w.mul(row, idx(64)));
  return {w.add(offset, w.mul(swizzled, idx(8)))};
}

void FlashKernelEmitter::copyRows(Value src, ValueRange srcPrefix,
                                  Value srcRow0, Value srcRows,
                                  const SmemTile &dst, Value stage,
                                  int64_t numRows, int64_t width,
                                  int64_t dstRow0) {
  int64_t chunksPerRow = width / 8; // 8 x 16 bits = 16 bytes
  int64_t chunks = numRows * chunksPerRow;
  int64_t threads = cfg.warps * kWarpSize;
  // The tile as a [rows, width] view with one base address, so that a
  // thread's chunks differ by constant row steps (few live registers
  // across the key loop). Its first row is always in bounds.
  Value avail = w.minIdx(w.sub(srcRows, srcRow0), idx(numRows));
  SmallVector<OpFoldResult> offsets(srcPrefix.begin(), srcPrefix.end());
  offsets.append({srcRow0, b.getIndexAttr(0)});
  SmallVector<OpFoldResult> sizes(srcPrefix.size(), b.getIndexAttr(1));
  sizes.append({avail, b.getIndexAttr(width)});
  SmallVector<OpFoldResult> strides(offsets.size(), b.getIndexAttr(1));
  auto srcType = cast<MemRefType>(src.getType());
  auto tileType = cast<MemRefType>(memref::SubViewOp::inferRankReducedResultType(
      {ShapedType::kDynamic, width}, srcType, offsets, sizes, strides));
  Value tile = memref::SubViewOp::create(b, loc, tileType, src, offsets, sizes,
                                         strides);
  bool rowAligned = threads % chunksPerRow == 0;
  Value threadRow = arith::DivUIOp::create(b, loc, tid, idx(chunksPerRow));
  Value threadCol =
      w.mul(arith::RemUIOp::create(b, loc, tid, idx(chunksPerRow)), idx(8));
  for (int64_t base = 0; base < chunks; base += threads) {
    auto copyChunk = [&]() {
      Value row, col;
      if (rowAligned) {
        row = w.add(threadRow, idx(base / chunksPerRow));
        col = threadCol;
      } else {
        Value chunk = w.add(tid, idx(base));
        row = arith::DivUIOp::create(b, loc, chunk, idx(chunksPerRow));
        col = w.mul(arith::RemUIOp::create(b, loc, chunk, idx(chunksPerRow)),
                    idx(8));
      }
      // Rows past the end are zero-filled (source size 0), read from the
      // tile's first row, which is valid.
      Value inBounds = w.cmp(arith::CmpIPredicate::slt, row, avail);
      Value srcRow = w.select(inBounds, row, idx(0));
      Value dstRow = dstRow0 ? w.add(row, idx(dstRow0)) : row;
      SmallVector<Value> dstIdx = smemIndex(dst, stage, dstRow, col);
      if (srcType.getElementType() != elt || !cfg.alignedRows) {
        stageConverted(tile, srcRow, col, inBounds, dst.mem, dstIdx);
        return;
      }
      Value srcElements = w.select(inBounds, idx(8), idx(0));
      nvgpu::DeviceAsyncCopyOp::create(
          b, loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()), dst.mem,
          dstIdx, tile, ValueRange{srcRow, col}, b.getIndexAttr(8),
          srcElements, b.getUnitAttr());
    };
    if (base + threads <= chunks) {
      copyChunk();
      continue;
    }
    Value chunk = w.add(tid, idx(base));
    auto guard = scf::IfOp::create(
        b, loc, w.cmp(arith::CmpIPredicate::slt, chunk, idx(chunks)), false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(guard.thenBlock());
    copyChunk();
  }
}

void FlashKernelEmitter::stageConverted(Value tile, Value row, Value col,
                                        Value inBounds, Value dst,
                                        ValueRange dstIdx) {
  Type srcElt = cast<MemRefType>(tile.getType()).getElementType();
  auto wide = VectorType::get({8}, srcElt);
  auto narrow = VectorType::get({8}, elt);
  // Aligned rows are read as 16-byte vectors, others by element.
  llvm::Align align(cfg.alignedRows ? 16 : srcElt.getIntOrFloatBitWidth() / 8);
  auto load = scf::IfOp::create(b, loc, TypeRange{narrow}, inBounds, true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(load.thenBlock());
    Value v = vector::LoadOp::create(b, loc, wide, tile, ValueRange{row, col},
                                     /*nontemporal=*/false, align);
    if (srcElt != elt)
      v = arith::TruncFOp::create(b, loc, narrow, v);
    scf::YieldOp::create(b, loc, v);
    b.setInsertionPointToStart(load.elseBlock());
    Value zeros = arith::ConstantOp::create(
        b, loc, narrow, DenseElementsAttr::get(narrow, b.getZeroAttr(elt)));
    scf::YieldOp::create(b, loc, zeros);
  }
  vector::StoreOp::create(b, loc, load.getResult(0), dst, dstIdx,
                          /*nontemporal=*/false, llvm::Align(16));
}

SmallVector<Value> FlashKernelEmitter::scoreMods(ArrayRef<Frag> s,
                                                 const HeadParams &hp,
                                                 Value rowBase, Value j0,
                                                 Value jEnd, bool masked) {
  Value scoreScale = hp.scoreScale, alibiSlope = hp.alibiSlope;
  Value windowLeft = hp.windowLeft, windowRight = hp.windowRight;
  bool softcap = variant.softcap.has_value();
  Value negInf = cf(-std::numeric_limits<float>::infinity());
  Value capIn, capOut;
  if (softcap) {
    capIn = fmul(scoreScale, cf(1.0f / *variant.softcap));
    capOut = cf(*variant.softcap * kLog2e);
  }
  Value base2Scale = fmul(scoreScale, cf(kLog2e));
  Value slope2 = variant.hasAlibi ? fmul(alibiSlope, cf(kLog2e)) : Value();
  SmallVector<Value> out;
  for (auto [t, frag] : llvm::enumerate(s)) {
    for (int64_t e = 0; e < 4; ++e) {
      Value x = frag[e];
      if (softcap)
        x = fmul(tanh(fmul(x, capIn)), capOut);
      else
        x = fmul(x, base2Scale);
      Value row, key;
      if (variant.hasAlibi || masked) {
        row = w.add(rowBase, w.add(groupId, idx(e >= 2 ? 8 : 0)));
        key = w.add(j0, w.add(w.mul(threadInGroup, idx(2)),
                              idx(int64_t(t) * 8 + (e & 1))));
      }
      Value diag = row ? w.add(row, diagOffset) : Value();
      if (variant.hasAlibi) {
        Value dist = w.sub(diag, key);
        Value absDist = w.select(w.cmp(arith::CmpIPredicate::slt, dist, idx(0)),
                                 w.sub(idx(0), dist), dist);
        Value distF = arith::SIToFPOp::create(
            b, loc, f32, arith::IndexCastOp::create(b, loc, b.getI64Type(),
                                                    absDist));
        x = fsub(x, fmul(slope2, distF));
      }
      if (masked) {
        Value visible = w.cmp(arith::CmpIPredicate::slt, key, jEnd);
        if (variant.causal)
          visible =
              w.andI(visible, w.cmp(arith::CmpIPredicate::sle, key, diag));
        Value inWindow = w.boolean(true);
        if (variant.hasWindows()) {
          Value leftOk = w.orI(
              w.cmp(arith::CmpIPredicate::slt, windowLeft, idx(0)),
              w.cmp(arith::CmpIPredicate::sge, key, w.sub(diag, windowLeft)));
          Value rightOk = w.orI(
              w.cmp(arith::CmpIPredicate::slt, windowRight, idx(0)),
              w.cmp(arith::CmpIPredicate::sle, key, w.add(diag, windowRight)));
          inWindow = w.orI(w.cmp(arith::CmpIPredicate::slt, key, sinks),
                           w.andI(leftOk, rightOk));
        }
        visible = w.andI(visible, inWindow);
        x = w.select(visible, x, negInf);
      }
      out.push_back(x);
    }
  }
  return out;
}

HeadParams FlashKernelEmitter::headParams(Value head, Value headMask) {
  HeadParams hp;
  hp.head = head;
  SmallVector<float> scales;
  for (int64_t h = 0; h < variant.numQueryHeads; ++h)
    scales.push_back(variant.scale / variant.temperature(h));
  hp.scoreScale = w.perHeadF32("score_scale", scales, head);
  hp.alibiSlope = w.perHeadF32("alibi_slopes", variant.getAlibiSlopes(), head);
  hp.windowLeft = w.perHeadIndex("window_left", variant.getWindowLefts(), head);
  hp.windowRight =
      w.perHeadIndex("window_right", variant.getWindowRights(), head);
  Value alive = w.perHeadBool("head_mask", variant.getHeadAlive(), head);
  // The runtime mask: empty when every head is alive.
  Value maskSize = memref::DimOp::create(b, loc, headMask, 0);
  Value hasMask = w.cmp(arith::CmpIPredicate::ne, maskSize, idx(0));
  auto maskIf = scf::IfOp::create(b, loc, TypeRange{b.getI1Type()}, hasMask,
                                  /*withElse=*/true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(maskIf.thenBlock());
    Value byte = memref::LoadOp::create(b, loc, headMask, head);
    Value keep = arith::CmpIOp::create(
        b, loc, arith::CmpIPredicate::ne, byte,
        arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(0)));
    scf::YieldOp::create(b, loc, keep);
    b.setInsertionPointToStart(maskIf.elseBlock());
    scf::YieldOp::create(b, loc, w.boolean(true));
  }
  hp.alive = w.andI(alive, maskIf.getResult(0));
  return hp;
}

void FlashKernelEmitter::emit(gpu::GPUFuncOp func,
                              const FlashKernelArgs &args) {
  const int64_t D = cfg.headDim, Dv = cfg.valueDim, C = cfg.cols;
  const int64_t rows = cfg.rowsPerBlock(), mt = cfg.rowTilesPerWarp;
  const int64_t sTiles = C / 8, oTiles = Dv / 8;
  Type indexType = b.getIndexType();
  auto workgroup = gpu::AddressSpaceAttr::get(b.getContext(),
                                              gpu::AddressSpace::Workgroup);

  tid = gpu::ThreadIdOp::create(b, loc, indexType, gpu::Dimension::x);
  Value qTile = gpu::BlockIdOp::create(b, loc, indexType, gpu::Dimension::x);
  Value headBlock =
      gpu::BlockIdOp::create(b, loc, indexType, gpu::Dimension::y);
  Value batch = gpu::BlockIdOp::create(b, loc, indexType, gpu::Dimension::z);
  lane = arith::RemUIOp::create(b, loc, tid, idx(kWarpSize));
  warp = arith::DivUIOp::create(b, loc, tid, idx(kWarpSize));
  groupId = arith::DivUIOp::create(b, loc, lane, idx(4));
  threadInGroup = arith::RemUIOp::create(b, loc, lane, idx(4));

  // GQA packing: the block computes `P` query heads of one KV group,
  // rowsPerHead query rows each; its row tiles are head-major.
  const int64_t P = cfg.headsPerBlock, rowsPerHead = rows / P;
  const int64_t tilesPerHead = rowsPerHead / 16;
  queryLen = memref::DimOp::create(b, loc, args.q, 2);
  keyLen = memref::DimOp::create(b, loc, args.k, 2);
  diagOffset = w.sub(keyLen, queryLen);
  Value row0 = w.mul(qTile, idx(rowsPerHead));
  Value blockRows = w.minIdx(idx(rowsPerHead), w.sub(queryLen, row0));
  Value head0 = w.mul(headBlock, idx(P));
  Value kvHead =
      arith::DivUIOp::create(b, loc, head0, idx(variant.groupSize()));
  // Row tile m of this warp: its head and its first query row.
  SmallVector<HeadParams> tileHeads;
  SmallVector<Value> tileRow0;
  Value warpTile = w.mul(warp, idx(mt));
  HeadParams blockHead;
  if (P == 1)
    blockHead = headParams(head0, args.headMask);
  for (int64_t m = 0; m < mt; ++m) {
    Value tile = w.add(warpTile, idx(m));
    if (P == 1) {
      tileHeads.push_back(blockHead);
      tileRow0.push_back(w.add(row0, w.mul(tile, idx(16))));
      continue;
    }
    Value inHead = arith::RemUIOp::create(b, loc, tile, idx(tilesPerHead));
    Value h = w.add(head0,
                    arith::DivUIOp::create(b, loc, tile, idx(tilesPerHead)));
    tileHeads.push_back(headParams(h, args.headMask));
    tileRow0.push_back(w.add(row0, w.mul(inHead, idx(16))));
  }
  sinks = idx(variant.sinkTokens);

  // The key tiles this block visits: the sink range, then the window range,
  // the union over its heads (packing only groups heads with equal
  // windows, so the union loses nothing; dead heads add nothing).
  SmallVector<HeadParams> blockHeads;
  for (int64_t hh = 0; hh < P; ++hh)
    blockHeads.push_back(
        P == 1 ? tileHeads[0] : headParams(w.add(head0, idx(hh)), args.headMask));
  KeyRanges ranges;
  Value anyAlive = w.boolean(false);
  for (const HeadParams &hp : blockHeads) {
    KeyRanges r = computeKeyRanges(w, variant, row0, blockRows, queryLen,
                                   keyLen, hp.windowLeft, hp.windowRight,
                                   sinks);
    Value lo = w.select(hp.alive, r.windowLo, keyLen);
    Value hi = w.select(hp.alive, r.windowHi, idx(0));
    if (!ranges.pFirst) {
      ranges = r;
      ranges.windowLo = lo;
      ranges.windowHi = hi;
    } else {
      ranges.windowLo = w.minIdx(ranges.windowLo, lo);
      ranges.windowHi = w.maxIdx(ranges.windowHi, hi);
    }
    anyAlive = w.orI(anyAlive, hp.alive);
  }
  Value numSink = ceilDiv(ranges.sinkHi, C);
  Value windowLen = w.maxIdx(w.sub(ranges.windowHi, ranges.windowLo), idx(0));
  Value numWindow = ceilDiv(windowLen, C);
  Value numTiles = w.select(anyAlive, w.add(numSink, numWindow), idx(0));
  // Tile i covers keys [start, end).
  auto tileBounds = [&](Value i) -> std::pair<Value, Value> {
    Value isSink = w.cmp(arith::CmpIPredicate::ult, i, numSink);
    Value sinkStart = w.mul(i, idx(C));
    Value windowStart =
        w.add(ranges.windowLo, w.mul(w.sub(i, numSink), idx(C)));
    Value start = w.select(isSink, sinkStart, windowStart);
    Value limit = w.select(isSink, ranges.sinkHi, ranges.windowHi);
    return {start, w.minIdx(w.add(start, idx(C)), limit)};
  };

  // Shared memory: Q [rows, D + pad], then K [2, C, D + pad] and
  // V [2, C, Dv + pad]. The 16-byte pad spreads the rows ldmatrix reads
  // together over all banks.
  // With wgmma: the same tiles unpadded and swizzled, from a 1024-byte
  // aligned start (the swizzle pattern follows address bits 4-9).
  int64_t eltBytes = 2;
  int64_t qStride = D + cfg.pad, vStride = Dv + cfg.pad;
  Value smem = gpu::DynamicSharedMemoryOp::create(
      b, loc,
      MemRefType::get({ShapedType::kDynamic}, b.getI8Type(), AffineMap(),
                      workgroup));
  SmemTile qSmem, kSmem, vSmem;
  Value qAddr, kAddr, vAddr; // shared addresses (i64) for descriptors
  Value barriers;            // i32 shared address of the mbarriers (TMA)
  if (!cfg.warpgroupMma) {
    auto view = [&](int64_t byteOffset, ArrayRef<int64_t> shape) -> Value {
      return memref::ViewOp::create(
          b, loc, MemRefType::get(shape, elt, AffineMap(), workgroup), smem,
          idx(byteOffset), ValueRange{});
    };
    int64_t qBytes = rows * qStride * eltBytes;
    int64_t kBytes = 2 * C * qStride * eltBytes;
    qSmem.mem = view(0, {1, rows, qStride});
    kSmem.mem = view(qBytes, {2, C, qStride});
    vSmem.mem = view(qBytes + kBytes, {2, C, vStride});
  } else {
    Value base = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, smem);
    Value pad = arith::AndIOp::create(b, loc, w.sub(idx(0), base), idx(1023));
    int64_t qElems = rows * D, kElems = 2 * C * D, vElems = 2 * C * Dv;
    Value flat = memref::ViewOp::create(
        b, loc,
        MemRefType::get({qElems + kElems + vElems}, elt, AffineMap(),
                        workgroup),
        smem, pad, ValueRange{});
    qSmem = {flat, 0, 0, rows, true};
    kSmem = {flat, qElems, C * D, C, true};
    vSmem = {flat, qElems + kElems, C * Dv, C, true};
    Value addr = arith::IndexCastOp::create(b, loc, b.getI64Type(),
                                            w.add(base, pad));
    auto at = [&](int64_t bytes) {
      return arith::AddIOp::create(
          b, loc, addr,
          arith::ConstantIntOp::create(b, loc, b.getI64Type(), bytes));
    };
    qAddr = addr;
    kAddr = at(qElems * eltBytes);
    vAddr = at((qElems + kElems) * eltBytes);
    // full[0], full[1], empty[0], empty[1] after the tiles.
    barriers = arith::TruncIOp::create(
        b, loc, i32, at((qElems + kElems + vElems) * eltBytes));
  }
  auto barrier = [&](int64_t which, Value stage) -> Value {
    return arith::AddIOp::create(
        b, loc,
        arith::AddIOp::create(b, loc, barriers,
                              arith::ConstantIntOp::create(b, loc, i32,
                                                           which * 16)),
        arith::MulIOp::create(b, loc, i32Of(stage),
                              arith::ConstantIntOp::create(b, loc, i32, 8)));
  };
  // The shared address (i32) of 64-column atom `atom` of `tile[stage]`.
  auto atomAddr = [&](Value base, int64_t stageBytes, int64_t rowsPerAtom,
                      Value stage, int64_t atom) -> Value {
    Value offset = w.add(w.mul(stage, idx(stageBytes)),
                         idx(atom * rowsPerAtom * 128));
    return arith::TruncIOp::create(
        b, loc, i32,
        arith::AddIOp::create(
            b, loc, base,
            arith::IndexCastOp::create(b, loc, b.getI64Type(), offset)));
  };

  auto loadKV = [&](Value i, Value stage) {
    Value start = tileBounds(i).first;
    copyRows(args.k, ValueRange{batch, kvHead}, start, keyLen, kSmem, stage,
             C, D);
    copyRows(args.v, ValueRange{batch, kvHead}, start, keyLen, vSmem, stage,
             C, Dv);
  };
  auto commitAndWait = [&]() {
    nvgpu::DeviceAsyncWaitOp::create(
        b, loc,
        nvgpu::DeviceAsyncCreateGroupOp::create(
            b, loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()),
            ValueRange{}),
        b.getI32IntegerAttr(0));
    // wgmma reads shared memory through the async proxy: make this
    // thread's copies visible to it (the barrier that follows does the
    // rest).
    if (cfg.warpgroupMma)
      NVVM::FenceProxyOp::create(
          b, loc, NVVM::ProxyKind::async_shared,
          NVVM::SharedSpaceAttr::get(b.getContext(),
                                     NVVM::SharedSpace::shared_cta));
  };
  // Q, and the first key tile (with TMA, the producer warp loads every
  // tile; thread 0 sets up the mbarriers).
  Value zero = idx(0);
  Value isConsumer;
  if (cfg.tmaLoads) {
    isConsumer = w.cmp(arith::CmpIPredicate::ult, warp, idx(cfg.warps));
    auto first = scf::IfOp::create(
        b, loc, w.cmp(arith::CmpIPredicate::eq, tid, zero), false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(first.thenBlock());
    Value consumers =
        arith::ConstantIntOp::create(b, loc, i32, cfg.warps * kWarpSize);
    Value one = arith::ConstantIntOp::create(b, loc, i32, 1);
    for (int64_t s = 0; s < 2; ++s) {
      ptx("mbarrier.init.shared::cta.b64 [$0], $1;", "r,r",
          ValueRange{barrier(0, idx(s)), one});
      ptx("mbarrier.init.shared::cta.b64 [$0], $1;", "r,r",
          ValueRange{barrier(1, idx(s)), consumers});
    }
    ptx("fence.mbarrier_init.release.cluster;", "", ValueRange{});
  }
  {
    std::optional<OpBuilder::InsertionGuard> g;
    if (cfg.tmaLoads) {
      g.emplace(b);
      auto consumerIf = scf::IfOp::create(b, loc, isConsumer, false);
      b.setInsertionPointToStart(consumerIf.thenBlock());
    }
    for (int64_t hh = 0; hh < P; ++hh)
      copyRows(args.q, ValueRange{batch, w.add(head0, idx(hh))}, row0,
               queryLen, qSmem, zero, rowsPerHead, D, hh * rowsPerHead);
  }
  if (!cfg.tmaLoads) {
    auto first = scf::IfOp::create(
        b, loc, w.cmp(arith::CmpIPredicate::sgt, numTiles, zero), false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(first.thenBlock());
    loadKV(zero, zero);
  }
  commitAndWait();
  gpu::BarrierOp::create(b, loc);
  // With TMA the warps part here: the consumers compute, the producer
  // warpgroup loads.
  scf::IfOp roles;
  if (cfg.tmaLoads) {
    roles = scf::IfOp::create(b, loc, isConsumer, /*withElse=*/true);
    b.setInsertionPointToStart(roles.thenBlock());
    ptx("setmaxnreg.inc.sync.aligned.u32 240;", "", ValueRange{});
  }

  // Q fragments (16 rows x 16 columns per chunk): kept in registers with
  // one row tile per warp; with two they are re-read per key tile (the
  // registers go to the second tile's accumulators instead).
  int64_t qChunks = D / 16;
  Value laneRow16 = arith::RemUIOp::create(b, loc, lane, idx(16));
  Value laneHalf = arith::DivUIOp::create(b, loc, lane, idx(16));
  auto qFragAt = [&](int64_t m, int64_t c) -> SmallVector<Value> {
    return ldmatrix(
        qSmem.mem,
        ValueRange{zero, w.add(w.mul(w.add(warpTile, idx(m)), idx(16)),
                               laneRow16),
                   w.add(idx(c * 16), w.mul(laneHalf, idx(8)))},
        4, /*transpose=*/false);
  };
  SmallVector<SmallVector<SmallVector<Value>>> qFrag(mt);
  if (mt == 1 && !cfg.warpgroupMma)
    for (int64_t c = 0; c < qChunks; ++c)
      qFrag[0].push_back(qFragAt(0, c));

  // Loop state: row max (base 2) and partial row sum for rows g and g + 8,
  // and the O accumulators.
  Value negInf = cf(-std::numeric_limits<float>::infinity());
  Value zeroF = cf(0.0f);
  // Per row tile m, at m * stateSize: max of rows g and g + 8, their
  // partial sums, then the O accumulators.
  const int64_t stateSize = 4 + oTiles * 4;
  SmallVector<Value> init;
  for (int64_t m = 0; m < mt; ++m) {
    init.append({negInf, negInf, zeroF, zeroF});
    init.append(oTiles * 4, zeroF);
  }

  Value laneRow8 = arith::RemUIOp::create(b, loc, lane, idx(8));
  Value laneOct = arith::DivUIOp::create(b, loc, lane, idx(8));
  auto loop = scf::ForOp::create(b, loc, zero, numTiles, idx(1), init);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(loop.getBody());
    Value i = loop.getInductionVar();
    ValueRange state = loop.getRegionIterArgs();
    Value stage = arith::RemUIOp::create(b, loc, i, idx(2));
    if (cfg.tmaLoads) {
      // Tile i has landed: the (i / 2)-th fill of its stage.
      Value parity = i32Of(arith::RemUIOp::create(
          b, loc, arith::DivUIOp::create(b, loc, i, idx(2)), idx(2)));
      mbarrierWait(barrier(0, stage), parity);
    } else {
      // Prefetch the next tile into the other stage.
      Value next = w.add(i, idx(1));
      auto prefetch = scf::IfOp::create(
          b, loc, w.cmp(arith::CmpIPredicate::slt, next, numTiles), false);
      OpBuilder::InsertionGuard pg(b);
      b.setInsertionPointToStart(prefetch.thenBlock());
      loadKV(next, w.sub(idx(1), stage));
    }
    std::pair<Value, Value> bounds = tileBounds(i);
    Value j0 = bounds.first, jEnd = bounds.second;

    // S = Q.K^T; each K fragment serves every row tile of the warp.
    SmallVector<SmallVector<Frag>> s(
        mt, SmallVector<Frag>(sTiles, Frag{zeroF, zeroF, zeroF, zeroF}));
    Value stage64 =
        arith::IndexCastOp::create(b, loc, b.getI64Type(), stage);
    auto stageAddr = [&](Value base, int64_t stageBytes) {
      return arith::AddIOp::create(
          b, loc, base,
          arith::MulIOp::create(
              b, loc, stage64,
              arith::ConstantIntOp::create(b, loc, b.getI64Type(),
                                           stageBytes)));
    };
    auto plus = [&](Value addr, int64_t bytes) -> Value {
      if (!bytes)
        return addr;
      return arith::AddIOp::create(
          b, loc, addr,
          arith::ConstantIntOp::create(b, loc, b.getI64Type(), bytes));
    };
    if (cfg.warpgroupMma) {
      // The warpgroup's 64 rows of Q times the whole key tile, k16 steps
      // of 32 bytes inside each 64-column atom.
      Value group = arith::DivUIOp::create(b, loc, warp, idx(4));
      Value qGroup = arith::AddIOp::create(
          b, loc, qAddr,
          arith::MulIOp::create(
              b, loc,
              arith::IndexCastOp::create(b, loc, b.getI64Type(), group),
              arith::ConstantIntOp::create(b, loc, b.getI64Type(), 64 * 128)));
      Value kStage = stageAddr(kAddr, C * D * eltBytes);
      Value qDesc = wgmmaDescriptor(qGroup, rows * 128, 1024);
      Value kDesc = wgmmaDescriptor(kStage, C * 128, 1024);
      SmallVector<Value> aDescs, bDescs;
      for (int64_t atom = 0; atom < D / 64; ++atom)
        for (int64_t kk = 0; kk < 4; ++kk) {
          aDescs.push_back(plus(qDesc, (atom * rows * 128 + kk * 32) >> 4));
          bDescs.push_back(plus(kDesc, (atom * C * 128 + kk * 32) >> 4));
        }
      SmallVector<Value> acc(C / 2, zeroF);
      SmallVector<Value> out = warpgroupMma(acc, aDescs, {}, bDescs,
                                            /*transposeB=*/false);
      for (int64_t t = 0; t < sTiles; ++t)
        for (int64_t e = 0; e < 4; ++e)
          s[0][t][e] = out[t * 4 + e];
    }
    for (int64_t c = 0; c < (cfg.warpgroupMma ? 0 : qChunks); c += 2) {
      int64_t tiles = c + 1 < qChunks ? 4 : 2;
      SmallVector<SmallVector<SmallVector<Value>>> q(mt);
      for (int64_t m = 0; m < mt; ++m)
        for (int64_t k = 0; k < tiles / 2; ++k)
          q[m].push_back(mt == 1 ? qFrag[0][c + k] : qFragAt(m, c + k));
      for (int64_t t = 0; t < sTiles; ++t) {
        SmallVector<Value> kRegs = ldmatrix(
            kSmem.mem,
            ValueRange{stage, w.add(idx(t * 8), laneRow8),
                       w.add(idx(c * 16), w.mul(laneOct, idx(8)))},
            tiles, /*transpose=*/false);
        for (int64_t m = 0; m < mt; ++m)
          for (int64_t k = 0; k < tiles / 2; ++k)
            s[m][t] = mma(q[m][k], {kRegs[2 * k], kRegs[2 * k + 1]}, s[m][t]);
      }
    }

    // Score modifications; the per-key masks only where a mask edge or the
    // end of the tile crosses it.
    Value isSink = w.cmp(arith::CmpIPredicate::ult, i, numSink);
    Value windowMask = w.boolean(false);
    for (const HeadParams &hp : blockHeads)
      windowMask = w.orI(windowMask,
                         windowTileNeedsMask(w, variant, ranges, j0, jEnd,
                                             hp.windowLeft, hp.windowRight));
    Value edgeMask = w.select(
        isSink, sinkTileNeedsMask(w, variant, ranges, jEnd), windowMask);
    Value partial = w.cmp(arith::CmpIPredicate::slt, w.sub(jEnd, j0), idx(C));
    Value needsMask = w.orI(edgeMask, partial);
    SmallVector<Type> scoreTypes(mt * sTiles * 4, f32);
    auto modIf = scf::IfOp::create(b, loc, scoreTypes, needsMask, true);
    auto allMods = [&](bool masked) {
      SmallVector<Value> values;
      for (int64_t m = 0; m < mt; ++m)
        llvm::append_range(values,
                           scoreMods(s[m], tileHeads[m], tileRow0[m], j0,
                                     jEnd, masked));
      return values;
    };
    {
      OpBuilder::InsertionGuard mg(b);
      b.setInsertionPointToStart(modIf.thenBlock());
      scf::YieldOp::create(b, loc, allMods(/*masked=*/true));
      b.setInsertionPointToStart(modIf.elseBlock());
      scf::YieldOp::create(b, loc, allMods(/*masked=*/false));
    }
    ValueRange x = modIf.getResults();

    // Online softmax for rows g (half 0) and g + 8 (half 1) of each row
    // tile; x and p hold tile m's scores at m * sTiles * 4.
    SmallVector<Value> newState(state.begin(), state.end());
    SmallVector<Value> p(x.begin(), x.end());
    for (int64_t m = 0; m < mt; ++m) {
      int64_t xs = m * sTiles * 4, st = m * stateSize;
      for (int64_t half = 0; half < 2; ++half) {
        Value tileMax = negInf;
        for (int64_t t = 0; t < sTiles; ++t)
          for (int64_t e = 2 * half; e < 2 * half + 2; ++e)
            tileMax = fmax(tileMax, x[xs + t * 4 + e]);
        tileMax = quadReduce(tileMax, /*isMax=*/true);
        Value mOld = state[st + half];
        Value mNew = fmax(mOld, tileMax);
        // A row that has seen no visible key yet keeps m = -inf; subtract 0
        // then so that exp2 gives 0, not NaN.
        Value mUse = w.select(
            arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, mNew,
                                  negInf),
            zeroF, mNew);
        Value alpha = exp2(fsub(mOld, mUse));
        Value rowSum = zeroF;
        for (int64_t t = 0; t < sTiles; ++t)
          for (int64_t e = 2 * half; e < 2 * half + 2; ++e) {
            Value pe = exp2(fsub(x[xs + t * 4 + e], mUse));
            p[xs + t * 4 + e] = pe;
            rowSum = fadd(rowSum, pe);
          }
        newState[st + half] = mNew;
        newState[st + 2 + half] = fadd(fmul(state[st + 2 + half], alpha), rowSum);
        for (int64_t n = 0; n < oTiles; ++n)
          for (int64_t e = 2 * half; e < 2 * half + 2; ++e)
            newState[st + 4 + n * 4 + e] = fmul(state[st + 4 + n * 4 + e], alpha);
      }
    }

    // O += P.V: the S accumulators of key tiles 2c and 2c + 1 are the A
    // fragment of key chunk c; each V fragment serves every row tile.
    auto packP = [&](int64_t m, int64_t t, int64_t e) {
      int64_t i = m * sTiles * 4 + t * 4 + e;
      Value v = vector::FromElementsOp::create(
          b, loc, VectorType::get({2}, f32), ValueRange{p[i], p[i + 1]});
      return asOperand(arith::TruncFOp::create(b, loc, pair, v));
    };
    if (cfg.warpgroupMma) {
      // V is [keys, Dv] (N-major for this product): k16 steps are 16 rows
      // (2048 bytes) apart, 64-column atoms C rows apart.
      Value vStage = stageAddr(vAddr, C * Dv * eltBytes);
      Value vDesc = wgmmaDescriptor(vStage, C * 128, 1024);
      SmallVector<SmallVector<Value>> aRegs;
      SmallVector<Value> bDescs;
      for (int64_t c = 0; c < C / 16; ++c) {
        SmallVector<Value> regs;
        for (auto [t, e] : {std::pair<int64_t, int64_t>{2 * c, 0},
                            {2 * c, 2}, {2 * c + 1, 0}, {2 * c + 1, 2}}) {
          Value r = packP(0, t, e);
          regs.push_back(r.getType() == i32
                             ? r
                             : LLVM::BitcastOp::create(b, loc, i32, r));
        }
        aRegs.push_back(regs);
        bDescs.push_back(plus(vDesc, (c * 16 * 128) >> 4));
      }
      SmallVector<Value> acc(newState.begin() + 4,
                             newState.begin() + 4 + oTiles * 4);
      SmallVector<Value> out = warpgroupMma(acc, {}, aRegs, bDescs,
                                            /*transposeB=*/true);
      std::copy(out.begin(), out.end(), newState.begin() + 4);
    }
    Value vKeyRow = w.add(laneRow8, w.mul(arith::RemUIOp::create(
                                              b, loc, laneOct, idx(2)),
                                          idx(8)));
    for (int64_t c = 0; c < (cfg.warpgroupMma ? 0 : C / 16); ++c) {
      SmallVector<SmallVector<Value>> a;
      for (int64_t m = 0; m < mt; ++m)
        a.push_back({packP(m, 2 * c, 0), packP(m, 2 * c, 2),
                     packP(m, 2 * c + 1, 0), packP(m, 2 * c + 1, 2)});
      for (int64_t n = 0; n < oTiles; n += 2) {
        int64_t tiles = n + 1 < oTiles ? 4 : 2;
        SmallVector<Value> vRegs = ldmatrix(
            vSmem.mem,
            ValueRange{stage, w.add(idx(c * 16), vKeyRow),
                       w.add(idx(n * 8), w.mul(laneHalf, idx(8)))},
            tiles, /*transpose=*/true);
        for (int64_t m = 0; m < mt; ++m)
          for (int64_t k = 0; k < tiles / 2; ++k) {
            int64_t at = m * stateSize + 4 + (n + k) * 4;
            Frag acc;
            for (int64_t e = 0; e < 4; ++e)
              acc[e] = newState[at + e];
            acc = mma(a[m], {vRegs[2 * k], vRegs[2 * k + 1]}, acc);
            for (int64_t e = 0; e < 4; ++e)
              newState[at + e] = acc[e];
          }
      }
    }
    if (cfg.tmaLoads) {
      // This thread is done with the stage (its MMAs have completed).
      ptx("{\n.reg .b64 state;\nmbarrier.arrive.shared::cta.b64 state, "
          "[$0];\n}",
          "r", ValueRange{barrier(1, stage)});
    } else {
      // The next tile has landed and every warp is done with this stage.
      commitAndWait();
      gpu::BarrierOp::create(b, loc);
    }
    scf::YieldOp::create(b, loc, newState);
  }

  // Finalize: full row sums, normalise, store.
  ValueRange result = loop.getResults();
  Value colBase = w.mul(threadInGroup, idx(2));
  Value lseOut = args.lse;
  for (int64_t m = 0; m < mt; ++m) {
    int64_t st = m * stateSize;
    for (int64_t half = 0; half < 2; ++half) {
      Value sum = quadReduce(result[st + 2 + half], /*isMax=*/false);
      Value positive =
          arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, sum, zeroF);
      // A pruned head of a packed block ran with the others: its rows are
      // zeroed here.
      positive = w.andI(positive, tileHeads[m].alive);
      Value inv = w.select(
          positive, arith::DivFOp::create(b, loc, cf(1.0f), sum), zeroF);
      Value row = w.add(tileRow0[m], w.add(groupId, idx(8 * half)));
      Value head = tileHeads[m].head;
      auto inRange = scf::IfOp::create(
          b, loc, w.cmp(arith::CmpIPredicate::slt, row, queryLen), false);
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(inRange.thenBlock());
      if (args.o) {
        Type oElt = cast<MemRefType>(args.o.getType()).getElementType();
        for (int64_t n = 0; n < oTiles; ++n) {
          int64_t at = st + 4 + n * 4 + 2 * half;
          Value v = vector::FromElementsOp::create(
              b, loc, VectorType::get({2}, f32),
              ValueRange{fmul(result[at], inv), fmul(result[at + 1], inv)});
          if (oElt != f32)
            v = arith::TruncFOp::create(b, loc, VectorType::get({2}, oElt), v);
          vector::StoreOp::create(
              b, loc, v, args.o,
              ValueRange{batch, head, row, w.add(idx(n * 8), colBase)});
        }
      }
      if (lseOut) {
        auto firstOfQuad = scf::IfOp::create(
            b, loc, w.cmp(arith::CmpIPredicate::eq, threadInGroup, zero),
            false);
        OpBuilder::InsertionGuard lg(b);
        b.setInsertionPointToStart(firstOfQuad.thenBlock());
        Value lse = w.select(
            positive, fmul(fadd(result[st + half], log2(sum)), cf(kLn2)),
            negInf);
        memref::StoreOp::create(b, loc, lse, lseOut,
                                ValueRange{batch, head, row});
      }
    }
  }
  if (cfg.tmaLoads) {
    // The producer: one thread issues every tile's TMA loads once the
    // consumers have released the stage (from the third tile on).
    b.setInsertionPointToStart(roles.elseBlock());
    ptx("setmaxnreg.dec.sync.aligned.u32 24;", "", ValueRange{});
    auto leader = scf::IfOp::create(
        b, loc, w.cmp(arith::CmpIPredicate::eq, tid, idx(cfg.warps * 32)),
        false);
    b.setInsertionPointToStart(leader.thenBlock());
    auto produce = scf::ForOp::create(b, loc, zero, numTiles, idx(1));
    b.setInsertionPointToStart(produce.getBody());
    Value i = produce.getInductionVar();
    Value stage = arith::RemUIOp::create(b, loc, i, idx(2));
    {
      auto reuse = scf::IfOp::create(
          b, loc, w.cmp(arith::CmpIPredicate::uge, i, idx(2)), false);
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(reuse.thenBlock());
      Value parity = i32Of(arith::RemUIOp::create(
          b, loc,
          w.sub(arith::DivUIOp::create(b, loc, i, idx(2)), idx(1)), idx(2)));
      mbarrierWait(barrier(1, stage), parity);
    }
    Value full = barrier(0, stage);
    ptx("{\n.reg .b64 state;\nmbarrier.arrive.expect_tx.shared::cta.b64 "
        "state, [$0], $1;\n}",
        "r,r",
        ValueRange{full, arith::ConstantIntOp::create(
                             b, loc, i32, C * (D + Dv) * eltBytes)});
    Value start = i32Of(tileBounds(i).first);
    Value kvHead32 = i32Of(kvHead), batch32 = i32Of(batch);
    Value kMap = args.tensorMaps;
    Value vMap = arith::AddIOp::create(
        b, loc, kMap, arith::ConstantIntOp::create(b, loc, b.getI64Type(), 128));
    auto load = [&](Value dst, Value map, int64_t atom) {
      Value tmap = LLVM::IntToPtrOp::create(
          b, loc, LLVM::LLVMPointerType::get(b.getContext()), map);
      ptx("cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::"
          "complete_tx::bytes [$0], [$1, {$2, $3, $4, $5}], [$6];",
          "r,l,r,r,r,r,r",
          ValueRange{dst, tmap,
                     arith::ConstantIntOp::create(b, loc, i32, 64 * atom),
                     start, kvHead32, batch32, full});
    };
    for (int64_t atom = 0; atom < D / 64; ++atom)
      load(atomAddr(kAddr, C * D * eltBytes, C, stage, atom), kMap, atom);
    for (int64_t atom = 0; atom < Dv / 64; ++atom)
      load(atomAddr(vAddr, C * Dv * eltBytes, C, stage, atom), vMap, atom);
    b.setInsertionPointAfter(roles);
  }
  gpu::ReturnOp::create(b, loc);
  (void)func;
}

} // namespace

int64_t mlir::mha::getFlashKernelSharedBytes(const FlashKernelConfig &cfg) {
  int64_t rows = cfg.rowsPerBlock();
  if (cfg.warpgroupMma) // unpadded, room to align the start to 1024, and
                        // four mbarriers with TMA
    return 2 * (rows * cfg.headDim + 2 * cfg.cols * cfg.headDim +
                2 * cfg.cols * cfg.valueDim) +
           1024 + (cfg.tmaLoads ? 32 : 0);
  int64_t qStride = cfg.headDim + cfg.pad, vStride = cfg.valueDim + cfg.pad;
  return 2 * (rows * qStride + 2 * cfg.cols * qStride + 2 * cfg.cols * vStride);
}

void mlir::mha::emitFlashKernel(OpBuilder &b, Location loc,
                                gpu::GPUModuleOp module, gpu::GPUFuncOp func,
                                const FlashKernelConfig &config,
                                const AttentionVariant &variant,
                                const FlashKernelArgs &args,
                                StringRef prefix) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&func.getBody().front());
  FlashKernelEmitter(b, loc, module, config, variant, prefix).emit(func, args);
}

//===- TileBackward.cpp - Work-item kernels of <name>_backward --*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// mha-tile-backward: for a function marked mha.backward, the kernel of the
// exported gradient function `<name>_backward` (docs/language.md, 6.7 and
// 7.1), in the FlashAttention-2 split:
//
//  - key items (phase 0) (b, g, t): dk and dv of key tile t (C keys) of KV
//    head g, summed in f32 stack scratch over every query head of the group
//    and every query tile (R rows) whose key ranges (KeyVisibility.h, as in
//    the forward) reach the tile;
//  - query items (phase 1) (b, h, t): dq of the R rows of query tile t of
//    head h, over the key tiles of the tile's ranges;
//  - row items (phase 2, only with the entropy gradient) (b, h, t): the row
//    constant E_i of the rows of query tile t (below).
//
// Both recompute t = q.k * scale / temperature, the softcapped and ALiBi'd
// score s and P = exp(s - lse) from the forward's lse, with
// D_i = dout_i . o_i, then dS = P (dout_i . v_j - D_i) (times the softcap's
// 1 - tanh^2; with dropout dout_i . v_j and P in dv are scaled by the keep
// factor Z; with the entropy gradient D_i becomes E_i and dS gets
// -dH_i P s). Every gradient element is written by exactly one item that
// sums in a fixed order: no atomics, the same bytes for any thread count.
//
// The products run on the register-blocked micro-kernels of
// mha/Codegen/MicroKernels.h (vector FMAs, f32 scratch; f16/bf16 inputs are
// widened once when packed), the elementwise part on vectors of vw lanes
// with the masks as index compares, as in the forward:
//
//  key item: Kt [D, C] and Vt [Dv, C] packed transposed once; per query
//    tile, Q and dout rows widened into [R, Dp] / [R, Dvp], then
//      S  = Q Kt     (block: 4 rows x 4 key vectors, over d)
//      dP = dO Vt    (the same over the value dims)
//      P Z and dS over S and dP, row by row (lanes = keys)
//      dv[c] += sum_r P Z[r, c] dO[r]   (block: 4 keys x 4 vectors of Dv,
//      dk[c] += sum_r dS[r, c] Q[r]      over the tile's rows)
//    in [C, Dvp] / [C, Dp] accumulators stored once at the end;
//  query item: Qt [D, R] and dOt [Dv, R] packed transposed once; per key
//    tile, K and V rows widened into [C, Dp] / [C, Dvp], then
//      S^T  = K Qt   (block: 4 keys x 4 row vectors, over d)
//      dP^T = V dOt
//      dS^T key by key (lanes = query rows, whose lse, D_i, masks and
//           ALiBi origins stay in registers)
//      dq[r] += sum_c dS^T[c, r] K[c]   (block: 4 rows x 4 vectors of D)
//    in an [R, Dp] accumulator; the row items compute sum_j P s the same
//    way (S^T, P) for the entropy.
//
// Whole-head key items (D and Dv multiples of 16, at least 4 KV heads):
// the grid's key tiles are 2^62 keys, so one item (b, g, 0) owns every key
// of KV head g. It zeroes dq of the group's heads, then runs the key item
// above on each 64-key tile in order and adds dq[r] += sum_c dS[r, c] K[c]
// into dq after each tile: five products instead of the split items'
// seven, every dq element still summed by one item in a fixed order. f32
// items read the Q, dout and K rows in place and sum in dq itself; 16-bit
// ones sum in the runtime's f32 dq temporary [B, Hq, Lq, D] and narrow it
// into dq at the end. The query items then only zero dq when there are no
// keys.
//
// bf16 items on AVX512-BF16 (bf16Pairs) run every product as vdpbf16ps on
// bf16 pairs, FlashAttention-2's bf16 backward. Key items: S and dP over
// pairs of head dims (Q and dout pairs read in place, K and V packed as
// Kp[d/2, 2C]), and dv, dk and dq over pairs of rows or keys, with P Z and
// dS rounded to bf16 by the elementwise step (two rows interleaved for dv
// and dk, row by row for dq) and Q, dout and K packed two rows
// interleaved. Query items: S^T and dP^T over pairs of head dims (K and V
// pairs read in place, Qt and dOt packed as pairs), dq over pairs of keys
// (dS^T and K two keys interleaved). Sums stay f32.
//
// Pairs a row cannot see get P = dS = 0 exactly (selects, not products),
// so masked keys never contribute through them; the products themselves
// still multiply those zeros by the other operand (a NaN or infinite input
// at such a pair reaches the sums as 0 * inf).
//
//===----------------------------------------------------------------------===//

#include "TileAttention.h"
#include "TileVectors.h"

#include "mha/Codegen/Builder.h"
#include "mha/Codegen/Constants.h"
#include "mha/Codegen/Dropout.h"
#include "mha/Codegen/EntryPoint.h"
#include "mha/Codegen/HeadParams.h"
#include "mha/Codegen/KeyVisibility.h"
#include "mha/Codegen/MicroKernels.h"
#include "mha/Dialect/Mha/IR/AttentionVariant.h"
#include "mha/Dialect/Mha/IR/MhaDialect.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/Dialect/Mha/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <limits>
#include <optional>

#define DEBUG_TYPE "mha-tile-backward"

namespace mlir::mha {
#define GEN_PASS_DEF_MHATILEBACKWARDPASS
#include "mha/Dialect/Mha/Transforms/Passes.h.inc"
} // namespace mlir::mha

using namespace mlir;
using namespace mlir::mha;

namespace {

/// The arguments of a backward kernel: the memrefs in C parameter order,
/// the runtime's descriptors, then the grid position. `dentropy` exists only
/// when the forward returns entropy (BackwardEmitter::arg skips it).
enum BackwardArg {
  kQ,
  kK,
  kV,
  kO,
  kLse,
  kDout,
  kDentropy,
  kDq,
  kDk,
  kDv,
  kAliveMask,
  kRowStats,
  kDqSums,
  kDropoutRng,
  kPhase,
  kBatch,
  kHead,
  kTile,
  kAlive
};

/// Whether q, k or v is a 16-bit float (the rest of the backward is f32).
bool hasSixteenBitInputs(AttentionOp attention) {
  return llvm::any_of(
      ValueRange{attention.getQuery(), attention.getKey(),
                 attention.getValue()},
      [](Value v) { return !getElementTypeOrSelf(v.getType()).isF32(); });
}

/// Keys per key item of whole-head items: one item per KV head whatever Lk.
constexpr int64_t kWholeHeadKeys = int64_t(1) << 62;
/// Whole-head items only where there are this many KV heads to share out.
constexpr int64_t kMinWholeHeadKvHeads = 4;

/// The tiles of the backward and their scratch.
struct BackwardTiles {
  int64_t vw;         // f32 lanes per vector
  int64_t rows, keys; // R query rows per query tile, C keys per key tile
  int64_t paddedRows, paddedKeys;    // Rp, Cp: multiples of vw
  int64_t paddedDim, paddedValueDim; // Dp, Dvp: multiples of vw
  int64_t headDim, valueDim;
  bool sixteenBit; // 16-bit q, k, v: the items may need the pair layouts

  static BackwardTiles get(int64_t vw, int64_t rows, int64_t keys, int64_t D,
                           int64_t Dv, bool sixteenBit) {
    return {vw,
            rows,
            keys,
            roundUp(rows, vw),
            roundUp(keys, vw),
            roundUp(D, vw),
            roundUp(Dv, vw),
            D,
            Dv,
            sixteenBit};
  }
  static BackwardTiles get(const BackwardItemChoice &choice,
                           const AttentionShape &shape, bool sixteenBit) {
    return get(choice.vectorWidth, choice.rows, choice.keys, shape.headDim,
               shape.valueDim, sixteenBit);
  }
  /// Rows of the pair scratch: ceil(R / 2) row pairs.
  int64_t rowPairs() const { return (rows + 1) / 2; }
  /// Scratch of a key item: f32 dk, dv, Kt, Vt, the copied Q and dout
  /// rows, the copied K rows of dq, P and dS; for 16-bit inputs also the
  /// bf16 pairs (bf16Pairs: K and V pairs, K, Q and dout rows interleaved,
  /// P Z and dS interleaved and dS by rows), counted for every copy so
  /// that each ISA copy chooses the same tiles.
  int64_t keyItemBytes() const {
    int64_t Cp = paddedKeys, Dp = paddedDim, Dvp = paddedValueDim;
    int64_t f32Bytes = 4 * (Cp * (2 * Dp + Dvp + headDim + valueDim) +
                            rows * (Dp + Dvp + 2 * Cp));
    if (!sixteenBit)
      return f32Bytes;
    int64_t pairBytes = 2 * (Cp * (headDim + valueDim) + Cp * Dp +
                             2 * rowPairs() * (Dp + Dvp + 2 * Cp) + rows * Cp);
    return f32Bytes + pairBytes;
  }
  /// Scratch of a query (or row) item: f32 Qt, dOt, the widened K and V
  /// rows, S^T and dS^T, dq and eight row arrays; for 16-bit inputs also
  /// the bf16 pairs (Qt and dOt as pairs of head dims, dS^T and K two keys
  /// interleaved).
  int64_t queryItemBytes() const {
    int64_t Rp = paddedRows, Cp = paddedKeys;
    int64_t f32Bytes = 4 * (Rp * (headDim + valueDim + 2 * Cp + paddedDim + 8) +
                            Cp * (paddedDim + paddedValueDim));
    if (!sixteenBit)
      return f32Bytes;
    return f32Bytes + 2 * (Rp * (headDim + valueDim) + Cp * (Rp + paddedDim));
  }
  int64_t scratchBytes() const {
    return std::max(keyItemBytes(), queryItemBytes());
  }
};

/// The per-row values the pairs of a row need, as scalars broadcast to
/// every lane (key items: lanes are keys) or as vectors of rows (query and
/// row items: lanes are rows).
struct RowValues {
  Value negLse;   // -(lse_i - alibiRowBias) * log2(e)
  Value constant; // D_i, or E_i with the entropy gradient
  Value dEntropy; // dH_i, with the entropy gradient
  std::optional<DropoutStream> dropout;
};

/// The score of a block of pairs in log2 units and what its gradient needs.
struct PairScores {
  Value s;  // the final score (without log2e); null when not needed
  Value th; // tanh(t / softcap), with softcap
  Value p;  // exp2(s log2e - lse log2e), P of the pair (visible or not)
};

class BackwardEmitter : TileVectorEmitter {
public:
  BackwardEmitter(OpBuilder &b, ModuleOp module, StringRef prefix,
                  AttentionOp attention, const BackwardWorkItem &item,
                  const BackwardItemChoice &choice)
      : TileVectorEmitter(b, attention.getLoc(), choice.vectorWidth),
        module(module), prefix(prefix), shape(AttentionShape::get(attention)),
        variant(AttentionVariant::get(attention, shape.numHeads,
                                      shape.numKvHeads, shape.headDim)),
        args{item.q,      item.k,         item.v,         item.o,
             item.lse,    item.dout,      item.dentropy,  item.dq,
             item.dk,     item.dv,        item.aliveMask, item.rowStats,
             item.dqSums, item.callWords, item.phase,     item.batch,
             item.head,   item.tile,      item.alive},
        kvLens(item.kvLens), qLens(item.qLens), cuSeqlensQ(item.cuSeqlensQ),
        cuSeqlensK(item.cuSeqlensK),
        tiles(
            BackwardTiles::get(choice, shape, hasSixteenBitInputs(attention))),
        hasEntropy(attention.getReturnEntropy()), wholeHeads(choice.wholeHeads),
        pairs(choice.bf16Pairs), dqInPlace(!choice.dqSums),
        rowsInPlace(choice.wholeHeads && isF32(item.q) && isF32(item.k) &&
                    isF32(item.dout)) {
    assert((!choice.dqSums || item.dqSums) && "dq sums need their memref");
  }

  /// Every item of the kernel, by its phase argument.
  void emit();
  /// The item of one grid (a layer's phase).
  void emitItem(BackwardItemKind kind);

private:
  Value arg(BackwardArg a) {
    assert(args[a] && "no such backward operand");
    return args[a];
  }
  /// The lengths and the call's positions every item reads first.
  void emitPrelude();
  /// A padded or packed batch's item: its sequence's lengths and extents,
  /// and the tensors replaced by views [1, H, rows, D] of the sequence's
  /// rows and keys (batch 0 of every view).
  void emitSequence();
  /// Element `i` of an i32 length or offset tensor, as an index.
  Value loadIndex(Value lengths, Value i) {
    return cb.indexCast(b.getIndexType(), load(lengths, {i}));
  }
  /// Zero gradient rows [from, to) of `grad` (head `h`, `dim` columns).
  void zeroRows(Value grad, Value h, Value from, Value to, int64_t dim) {
    Value zeroV = splatF(0.0f);
    cb.forLoop(from, to, 1, [&](Value i) {
      for (int64_t d0 = 0; d0 < dim; d0 += vw)
        storeOutput(zeroV, grad, arg(kBatch), h, i, d0);
    });
  }
  /// lse_i, to test for an empty row (-inf) before anything else is read.
  Value loadLse(Value batch, Value head, Value i) {
    Value lse = load(arg(kLse), {batch, head, i});
    return lse.getType().isF32() ? lse
                                 : arith::ExtFOp::create(b, loc, f32, lse);
  }
  /// Whether a row has keys: lse != -inf (NaN passes and propagates).
  Value rowHasKeys(Value lse) {
    return cb.cmpF(arith::CmpFPredicate::UNE, lse,
                   cb.f32(-std::numeric_limits<float>::infinity()));
  }
  /// The scalars of row i: -lse' log2(e) (lse' without the row's ALiBi
  /// bias), D_i (or E_i from the row items when `rowStats`), dH_i.
  struct RowScalars {
    Value negLse, constant, dEntropy;
  };
  RowScalars loadRowScalars(const HeadParams &head, Value batch, Value h,
                            Value i, Value lse, bool rowStats);
  /// D_i = dout_i . o_i.
  Value rowDot(Value batch, Value h, Value i);
  /// The dropout stream of the sequence's head h (b * Hq + h).
  DropoutStream dropoutStream(Value h, Value rowI32);

  /// The scores and probabilities of vw pairs from their dot products q.k
  /// (`qk`): with `needScore`, s too (entropy, softcap's tanh, ALiBi).
  PairScores pairScores(const HeadParams &head, const RowValues &row, Value qk,
                        Value alibiDist, bool needScore);
  /// dS * scale / temperature of vw pairs from their scores and dout . v
  /// (`dv`); returns {P Z, dS'} with both 0 where `visible` is false.
  std::pair<Value, Value> pairGradients(const HeadParams &head,
                                        const RowValues &row,
                                        const PairScores &ps, Value dv,
                                        Value keysI32, Value visible);

  /// The head's masks; the sinks end at sink_tokens - key_start in the
  /// call's keys (explicit positions).
  MaskParams<Value> masks(const HeadParams &head) {
    MaskParams<Value> m = head.masks(variant);
    m.sinkTokens = cb.sub(m.sinkTokens, positions.keyStart);
    return m;
  }

  /// The stack scratch of a key item: f32 dk, dv, S (then P Z) and dP
  /// (then dS); K and V transposed (kt, vt) and Q and dout rows (qp, dop),
  /// f32 or (pairs) bf16 pairs; with whole heads the K rows of dq (kRows)
  /// unless read in place; with pairs P Z and dS as bf16 pairs of rows
  /// (pp, dsp) and dS as bf16 rows (dsr).
  struct KeyScratch {
    Value dkAcc, dvAcc, kt, vt, qp, dop, ps, ds;
    Value kRows, pp, dsp, dsr;
    // Whether whole-head items copy f32 Q, dout and K rows (rowsOf); null
    // where they always do.
    Value qNeedsCopy, doutNeedsCopy, kNeedsCopy;
  };
  /// Whether query head h is alive (static and run-time head masks).
  Value isAlive(const HeadParams &head, Value h) {
    Value runtimeAlive =
        cb.cmpI(arith::CmpIPredicate::ne, load(arg(kAliveMask), {h}),
                arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(0)));
    return cb.andI(runtimeAlive, head.staticAlive);
  }
  void emitKeyItem();
  void emitKeyTile(Value j0, Value n, const KeyScratch &sc);
  void emitKeyTileRows(const HeadParams &head, Value h, Value row0, Value rows,
                       Value j0, Value n, const KeyScratch &sc,
                       const Tile &keyRows);
  /// Rows [first, first + count) of operand `a` at (batch, head) as f32 rows
  /// the micro-kernels read: copied into `copy` (widened where 16-bit), or
  /// in place where `needsCopy` (vec::rowsNeedCopy of `a`, computed once
  /// per item; null: always copied) is false at run time (docs/
  /// performance.md, "Layouts").
  Tile rowsOf(BackwardArg a, Value batch, Value head, Value first, Value count,
              Value copy, Value needsCopy);
  void emitKeyTilePairRows(const HeadParams &head, Value h, Value row0,
                           Value rows, Value j0, Value n, const KeyScratch &sc);
  /// P Z and dS of row r of the tile against its keys [j0, j0 + n), one
  /// f32 vector pair per vw keys, from S and dP in sc.ps and sc.ds.
  void emitRowGradients(const HeadParams &head, Value h, Value row0, Value r,
                        Value j0, Value n, const KeyScratch &sc,
                        function_ref<void(int64_t, Value, Value)> sink);
  /// Where whole-head items sum dq: dq itself or the dq temporary.
  Value dqTarget() { return dqInPlace ? arg(kDq) : arg(kDqSums); }
  static bool isF32(Value memref) {
    return getElementTypeOrSelf(memref.getType()).isF32();
  }
  /// Query items (phase 1) and row items (phase 2, `rowStatsItem`).
  void emitQueryItem(bool rowStatsItem);

  ModuleOp module;
  StringRef prefix;
  AttentionShape shape;
  AttentionVariant variant;
  std::array<Value, kAlive + 1> args;
  Value kvLens, qLens, cuSeqlensQ, cuSeqlensK; // null when absent
  BackwardTiles tiles;
  bool hasEntropy;
  bool wholeHeads;  // key items own whole KV heads and write dq too
  bool pairs;       // the items' products on bf16 pairs (vdpbf16ps)
  bool dqInPlace;   // whole heads sum in dq (f32), not in the temporary
  bool rowsInPlace; // whole heads may read f32 Q, dout and K rows in
                    // place (rowsOf)
  // The sequence's query rows and keys (past q_lens and kv_lens the rows
  // are padding, whose gradients are zero) and the rows and keys whose
  // gradients the item's grid row writes: queryRows >= queryLen,
  // keyRows >= keyLen.
  Value queryLen, keyLen, queryRows, keyRows;
  Value sequence;          // the item's sequence b, for the dropout stream
  CallPositions positions; // the call's (mha_options.use_positions)
};

Value BackwardEmitter::rowDot(Value batch, Value h, Value i) {
  Value sum = splatF(0.0f);
  for (int64_t d0 = 0; d0 < tiles.paddedValueDim; d0 += vw)
    sum = vector::FMAOp::create(b, loc, loadInput(arg(kDout), batch, h, i, d0),
                                loadInput(arg(kO), batch, h, i, d0), sum);
  return sumLanes(sum);
}

BackwardEmitter::RowScalars
BackwardEmitter::loadRowScalars(const HeadParams &head, Value batch, Value h,
                                Value i, Value lse, bool rowStats) {
  RowScalars row;
  // The forward's scores leave each row's largest ALiBi bias out and its
  // lse adds it back (HeadParams.h): s - lse is the same without it.
  Value diag = cb.add(i, positions.diagOffset);
  Value shifted = alibiShiftsRows(variant)
                      ? cb.fsub(lse, alibiRowBias(cb, head.alibiSlope, diag))
                      : lse;
  row.negLse = cb.fmul(shifted, cb.f32(-kLog2e));
  if (hasEntropy && rowStats) {
    row.constant = load(arg(kRowStats), {batch, h, i});
    row.dEntropy = load(arg(kDentropy), {batch, h, i});
  } else {
    row.constant = rowDot(batch, h, i);
    if (hasEntropy)
      row.dEntropy = load(arg(kDentropy), {batch, h, i});
  }
  return row;
}

DropoutStream BackwardEmitter::dropoutStream(Value h, Value rowI32) {
  auto word = [&](int64_t w) -> Value {
    return load(arg(kDropoutRng), {cb.index(w)});
  };
  Value stream = cb.add(cb.mul(sequence, cb.index(shape.numHeads)), h);
  return DropoutStream{word(MHA_DROPOUT_SEED_LO), word(MHA_DROPOUT_SEED_HI),
                       rowI32, toI32(stream), word(MHA_DROPOUT_OFFSET_LO)};
}

PairScores BackwardEmitter::pairScores(const HeadParams &head,
                                       const RowValues &row, Value qk,
                                       Value alibiDist, bool needScore) {
  PairScores out;
  bool plain = !variant.softcap && !variant.hasAlibi && !needScore;
  if (plain) {
    // One FMA: t log2(e) - lse log2(e).
    Value scale = splat(cb.fmul(head.scoreScale, cb.f32(kLog2e)));
    out.p = cb.exp2(vector::FMAOp::create(b, loc, qk, scale, row.negLse));
    return out;
  }
  Value s = cb.fmul(qk, splat(head.scoreScale));
  if (variant.softcap) {
    out.th = math::TanhOp::create(b, loc,
                                  cb.fmul(s, splatF(1.0f / *variant.softcap)));
    s = cb.fmul(splatF(*variant.softcap), out.th);
  }
  if (variant.hasAlibi)
    s = cb.fsub(s, cb.fmul(splat(head.alibiSlope), alibiDist));
  out.s = s;
  out.p = cb.exp2(vector::FMAOp::create(b, loc, s, splatF(kLog2e), row.negLse));
  return out;
}

std::pair<Value, Value> BackwardEmitter::pairGradients(const HeadParams &head,
                                                       const RowValues &row,
                                                       const PairScores &ps,
                                                       Value dv, Value keysI32,
                                                       Value visible) {
  Value zero = splatF(0.0f);
  // o_i = sum_j P_ij Z_ij v_j: dL/dP_ij = Z_ij (dout_i . v_j), and D_i =
  // dout_i . o_i = sum_j P_ij dL/dP_ij as without dropout.
  Value dProb = dv, weight = ps.p;
  if (row.dropout) {
    Value keeps =
        emitDropoutKeeps(cb, *row.dropout, keysI32, head.dropoutThreshold);
    Value z = cb.select(keeps, splat(head.dropoutKeepScale), zero);
    dProb = cb.fmul(dProb, z);
    weight = cb.fmul(weight, z);
  }
  // dH_i/ds_ij = -P_ij (s_ij - lse_i + H_i): with E_i it is one more term.
  Value diff = cb.fsub(dProb, row.constant);
  if (hasEntropy)
    diff = cb.fsub(diff, cb.fmul(row.dEntropy, ps.s));
  Value dS = cb.fmul(ps.p, diff);
  if (variant.softcap)
    dS = cb.fmul(dS, cb.fsub(splatF(1.0f), cb.fmul(ps.th, ps.th)));
  dS = cb.fmul(dS, splat(head.scoreScale));
  return {cb.select(visible, weight, zero), cb.select(visible, dS, zero)};
}

void BackwardEmitter::emitRowGradients(
    const HeadParams &head, Value h, Value row0, Value r, Value j0, Value n,
    const KeyScratch &sc, function_ref<void(int64_t, Value, Value)> sink) {
  Value batch = arg(kBatch);
  int64_t Cp = tiles.paddedKeys;
  MaskParams<Value> m = masks(head);
  Value i = cb.add(row0, r);
  Value lse = loadLse(batch, h, i);
  Value valid = rowHasKeys(lse);
  RowScalars scalars =
      loadRowScalars(head, batch, h, i, lse, /*rowStats=*/true);
  RowValues row{splat(scalars.negLse), splat(scalars.constant),
                scalars.dEntropy ? splat(scalars.dEntropy) : Value(),
                std::nullopt};
  if (variant.hasDropout)
    row.dropout = dropoutStream(h, toI32(cb.add(positions.queryStart, i)));
  // The row's bounds relative to the tile, clamped to [-1, Cp], as i32
  // lanes; a row without keys sees none.
  Value diag = cb.add(i, positions.diagOffset);
  KeyBounds<Value> bounds = getKeyBounds(cb, m, diag);
  auto rel = [&](Value bound) {
    Value x = cb.sub(bound, j0);
    return toI32(cb.minSI(cb.maxSI(x, cb.index(-1)), cb.index(Cp)));
  };
  Value none = cb.i32(-1);
  KeyBounds<Value> lanes{splat(rel(bounds.lo)),
                         splat(cb.select(valid, rel(bounds.hi), none)),
                         splat(cb.select(valid, rel(bounds.sinkEnd), none))};
  Value origin;
  if (variant.hasAlibi)
    origin = splat(arith::SIToFPOp::create(
        b, loc, f32, toI32(cb.sub(alibiOrigin(cb, diag, variant.causal), j0))));
  // Dropout's counters take the keys' positions.
  Value keyBase = splat(toI32(cb.add(positions.keyStart, j0)));
  Value nV = splat(toI32(n));
  for (int64_t j = 0; j < Cp / vw; ++j) {
    Value c = cb.index(j * vw);
    Value cI = laneIndices(j);
    Value visible = cb.andI(cb.lt(cI, nV), isKeyInBounds(cb, lanes, cI));
    Value dist;
    if (variant.hasAlibi)
      dist = math::AbsFOp::create(
          b, loc, cb.fsub(origin, arith::SIToFPOp::create(b, loc, vec(), cI)));
    PairScores scores = pairScores(head, row, loadVec(sc.ps, {r, c}), dist,
                                   /*needScore=*/hasEntropy);
    auto [weight, dS] = pairGradients(head, row, scores, loadVec(sc.ds, {r, c}),
                                      cb.add(keyBase, cI), visible);
    sink(j, weight, dS);
  }
}

/// One query tile [row0, row0 + rows) of head h against the key tile
/// [j0, j0 + n) with FMAs on f32: S, dP, then P Z and dS, then dv and dk
/// (and dq in whole-head items).
void BackwardEmitter::emitKeyTileRows(const HeadParams &head, Value h,
                                      Value row0, Value rows, Value j0, Value n,
                                      const KeyScratch &sc,
                                      const Tile &keyRows) {
  Value batch = arg(kBatch);
  int64_t D = tiles.headDim, Dv = tiles.valueDim, Cp = tiles.paddedKeys;
  Tile qRows = rowsOf(kQ, batch, h, row0, rows, sc.qp, sc.qNeedsCopy);
  Tile doutRows = rowsOf(kDout, batch, h, row0, rows, sc.dop, sc.doutNeedsCopy);
  // S = Q Kt and dP = dO Vt.
  emitProduct(
      sc.ps, rows, Cp / vw, cb.index(D),
      [&](Value d, Value r) { return load(qRows.mem, at(qRows, r, d)); }, sc.kt,
      /*accumulate=*/false, /*clampRows=*/true);
  emitProduct(
      sc.ds, rows, Cp / vw, cb.index(Dv),
      [&](Value e, Value r) { return load(doutRows.mem, at(doutRows, r, e)); },
      sc.vt, /*accumulate=*/false, /*clampRows=*/true);

  // P Z over S and dS over dP, row by row, lanes = keys.
  cb.forLoop(cb.index(0), rows, 1, [&](Value r) {
    emitRowGradients(head, h, row0, r, j0, n, sc,
                     [&](int64_t j, Value weight, Value dS) {
                       storeVec(weight, sc.ps, {r, cb.index(j * vw)});
                       storeVec(dS, sc.ds, {r, cb.index(j * vw)});
                     });
  });

  // dv[c] += sum_r P Z[r, c] dO[r] and dk[c] += sum_r dS[r, c] Q[r] for the
  // tile's keys (their blocks of 4 end before Cp).
  emitProduct(
      sc.dvAcc, n, tiles.paddedValueDim / vw, rows,
      [&](Value r, Value c) { return load(sc.ps, {r, c}); }, doutRows,
      /*accumulate=*/true, /*clampRows=*/false);
  emitProduct(
      sc.dkAcc, n, tiles.paddedDim / vw, rows,
      [&](Value r, Value c) { return load(sc.ds, {r, c}); }, qRows,
      /*accumulate=*/true, /*clampRows=*/false);
  // Whole-head items: dq[r] += sum_c dS[r, c] K[c], the key tiles in order.
  if (!wholeHeads)
    return;
  emitProduct(
      Tile(dqTarget(), {batch, h}, row0), rows, tiles.paddedDim / vw, n,
      [&](Value c, Value r) { return load(sc.ds, {r, c}); }, keyRows,
      /*accumulate=*/true, /*clampRows=*/true);
}

Tile BackwardEmitter::rowsOf(BackwardArg a, Value batch, Value head,
                             Value first, Value count, Value copy,
                             Value needsCopy) {
  Value src = arg(a);
  if (!needsCopy) {
    packRows(src, batch, head, first, count, copy);
    return Tile(copy);
  }
  auto srcType = cast<MemRefType>(src.getType());
  int64_t dim = srcType.getDimSize(3);
  MLIRContext *ctx = b.getContext();
  auto rowsType =
      MemRefType::get({ShapedType::kDynamic, dim}, f32,
                      StridedLayoutAttr::get(ctx, ShapedType::kDynamic,
                                             {ShapedType::kDynamic, 1}));
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  OpFoldResult len = memref::DimOp::create(b, loc, src, 2).getResult();
  SmallVector<OpFoldResult> offsets{batch, head, zero, zero},
      sizes{one, one, len, b.getIndexAttr(dim)}, strides(4, one);
  auto viewType = memref::SubViewOp::inferRankReducedResultType(
      rowsType.getShape(), srcType, offsets, sizes, strides);
  Value inPlace = memref::CastOp::create(
      b, loc, rowsType,
      memref::SubViewOp::create(b, loc, viewType, src, offsets, sizes,
                                strides));
  Value rows = cb.ifValue(
      needsCopy, rowsType,
      [&]() -> Value {
        packRows(src, batch, head, first, count, copy);
        Value copied = memref::SubViewOp::create(
            b, loc, copy, ArrayRef<OpFoldResult>{zero, zero},
            ArrayRef<OpFoldResult>{
                b.getIndexAttr(cast<MemRefType>(copy.getType()).getDimSize(0)),
                b.getIndexAttr(dim)},
            ArrayRef<OpFoldResult>{one, one});
        return memref::CastOp::create(b, loc, rowsType, copied);
      },
      [&] { return inPlace; });
  Value rowOffset =
      arith::SelectOp::create(b, loc, needsCopy, cb.index(0), first);
  return Tile(rows, {}, rowOffset);
}

/// emitKeyTileRows with vdpbf16ps on bf16 pairs (bf16Pairs).
void BackwardEmitter::emitKeyTilePairRows(const HeadParams &head, Value h,
                                          Value row0, Value rows, Value j0,
                                          Value n, const KeyScratch &sc) {
  Value batch = arg(kBatch);
  int64_t D = tiles.headDim, Dv = tiles.valueDim, Cp = tiles.paddedKeys;
  packInterleavedRows(arg(kQ), batch, h, row0, rows, sc.qp);
  packInterleavedRows(arg(kDout), batch, h, row0, rows, sc.dop);
  // S = Q Kt and dP = dO Vt over pairs of head dims, Q and dout in place.
  auto dimPair = [&](BackwardArg a, Value p, Value r) {
    return vec::broadcastPair(cb, arg(a),
                              {batch, h, cb.add(row0, r), cb.add(p, p)}, vw);
  };
  emitPairProduct(
      sc.ps, rows, Cp / vw, cb.index(D / 2),
      [&](Value p, Value r) { return dimPair(kQ, p, r); }, sc.kt,
      /*accumulate=*/false, /*clampRows=*/true);
  emitPairProduct(
      sc.ds, rows, Cp / vw, cb.index(Dv / 2),
      [&](Value p, Value r) { return dimPair(kDout, p, r); }, sc.vt,
      /*accumulate=*/false, /*clampRows=*/true);

  // P Z and dS two rows at a time (the second zero past the tile's rows),
  // rounded to bf16: interleaved by rows for dv and dk, by row for dq.
  Value two = cb.index(2);
  Value rowPairs = cb.divUI(cb.add(rows, cb.index(1)), two);
  Value last = cb.sub(rows, cb.index(1));
  Value zero = splatF(0.0f);
  auto bf16Vector = VectorType::get({vw}, b.getBF16Type());
  cb.forLoop(cb.index(0), rowPairs, 1, [&](Value p) {
    SmallVector<Value> weights[2], grads[2];
    for (int64_t t = 0; t < 2; ++t) {
      Value r = cb.add(cb.mul(p, two), cb.index(t));
      Value inTile = cb.lt(r, rows);
      emitRowGradients(head, h, row0, cb.minSI(r, last), j0, n, sc,
                       [&](int64_t, Value weight, Value dS) {
                         weights[t].push_back(cb.select(inTile, weight, zero));
                         grads[t].push_back(cb.select(inTile, dS, zero));
                       });
    }
    for (int64_t j = 0; j < Cp / vw; ++j) {
      Value c2 = cb.index(2 * j * vw);
      storeVec(interleaveBf16(weights[0][j], weights[1][j]), sc.pp, {p, c2});
      storeVec(interleaveBf16(grads[0][j], grads[1][j]), sc.dsp, {p, c2});
      for (int64_t t = 0; t < 2; ++t)
        storeVec(x86vector::CvtPackedF32ToBF16Op::create(b, loc, bf16Vector,
                                                         grads[t][j]),
                 sc.dsr,
                 {cb.add(cb.mul(p, two), cb.index(t)), cb.index(j * vw)});
    }
  });

  // dv[c] += sum_r P Z[r, c] dO[r], dk[c] += sum_r dS[r, c] Q[r] over pairs
  // of rows.
  auto rowPairOf = [&](Value scores, Value p, Value c) {
    return vec::broadcastPair(cb, scores, {p, cb.add(c, c)}, vw);
  };
  emitPairProduct(
      sc.dvAcc, n, tiles.paddedValueDim / vw, rowPairs,
      [&](Value p, Value c) { return rowPairOf(sc.pp, p, c); }, sc.dop,
      /*accumulate=*/true, /*clampRows=*/false);
  emitPairProduct(
      sc.dkAcc, n, tiles.paddedDim / vw, rowPairs,
      [&](Value p, Value c) { return rowPairOf(sc.dsp, p, c); }, sc.qp,
      /*accumulate=*/true, /*clampRows=*/false);
  // Whole-head items: dq[r] += sum_c dS[r, c] K[c] over pairs of keys.
  if (!wholeHeads)
    return;
  emitPairProduct(
      Tile(dqTarget(), {batch, h}, row0), rows, tiles.paddedDim / vw,
      cb.divUI(cb.add(n, cb.index(1)), two),
      [&](Value q, Value r) {
        return vec::broadcastPair(cb, sc.dsr, {r, cb.add(q, q)}, vw);
      },
      sc.kRows, /*accumulate=*/true, /*clampRows=*/true);
}

/// dk and dv of the key tile [j0, j0 + n) of KV head g, over every query
/// tile of the group's live heads that reaches it.
void BackwardEmitter::emitKeyTile(Value j0, Value n, const KeyScratch &sc) {
  int64_t R = tiles.rows, Cp = tiles.paddedKeys;
  int64_t Dp = tiles.paddedDim, Dvp = tiles.paddedValueDim;
  Value batch = arg(kBatch), g = arg(kHead);
  Value zero = cb.index(0);
  Value j1 = cb.add(j0, n);
  Value zeroV = splatF(0.0f);
  cb.forLoop(zero, cb.index(Cp), 1, [&](Value c) {
    for (int64_t d0 = 0; d0 < Dp; d0 += vw)
      storeVec(zeroV, sc.dkAcc, {c, cb.index(d0)});
    for (int64_t d0 = 0; d0 < Dvp; d0 += vw)
      storeVec(zeroV, sc.dvAcc, {c, cb.index(d0)});
  });
  if (pairs) {
    packTransposedPairs(arg(kK), batch, g, j0, n, Cp, sc.kt);
    packTransposedPairs(arg(kV), batch, g, j0, n, Cp, sc.vt);
  } else {
    packTransposed(arg(kK), batch, g, j0, n, Cp, sc.kt);
    packTransposed(arg(kV), batch, g, j0, n, Cp, sc.vt);
  }
  // The K rows of dq (whole-head items).
  Tile keyRows(sc.kRows);
  if (wholeHeads && pairs)
    packInterleavedRows(arg(kK), batch, g, j0, n, sc.kRows);
  else if (wholeHeads)
    keyRows = rowsOf(kK, batch, g, j0, n, sc.kRows, sc.kNeedsCopy);

  int64_t groupSize = variant.groupSize();
  Value rowsConst = cb.index(R);
  Value queryTiles = cb.divUI(cb.add(queryLen, cb.index(R - 1)), rowsConst);
  cb.forLoop(zero, cb.index(groupSize), 1, [&](Value member) {
    Value h = cb.add(cb.mul(g, cb.index(groupSize)), member);
    HeadParams head = emitHeadParams(cb, module, prefix, variant, h);
    MaskParams<Value> m = masks(head);
    cb.ifThen(isAlive(head, h), [&] {
      cb.forLoop(zero, queryTiles, 1, [&](Value qt) {
        Value row0 = cb.mul(qt, rowsConst);
        Value rows = cb.minSI(rowsConst, cb.sub(queryLen, row0));
        // The query tile's key ranges, as the forward computes them: a
        // tile whose ranges miss [j0, j1) has no row that sees a key here.
        KeyRanges ranges =
            computeKeyRangesAt(cb, m, row0, rows, positions.diagOffset, keyLen);
        Value seesSinks = cb.lt(j0, cb.minSI(ranges.sinkHi, j1));
        Value seesWindow =
            cb.lt(cb.maxSI(ranges.windowLo, j0), cb.minSI(ranges.windowHi, j1));
        cb.ifThen(cb.orI(seesSinks, seesWindow), [&] {
          if (pairs)
            emitKeyTilePairRows(head, h, row0, rows, j0, n, sc);
          else
            emitKeyTileRows(head, h, row0, rows, j0, n, sc, keyRows);
        });
      });
    });
  });

  cb.forLoop(zero, n, 1, [&](Value c) {
    Value j = cb.add(j0, c);
    for (int64_t d0 = 0; d0 < Dp; d0 += vw)
      storeOutput(loadVec(sc.dkAcc, {c, cb.index(d0)}), arg(kDk), batch, g, j,
                  d0);
    for (int64_t d0 = 0; d0 < Dvp; d0 += vw)
      storeOutput(loadVec(sc.dvAcc, {c, cb.index(d0)}), arg(kDv), batch, g, j,
                  d0);
  });
}

void BackwardEmitter::emitKeyItem() {
  int64_t D = tiles.headDim, Dv = tiles.valueDim, C = tiles.keys,
          R = tiles.rows, Cp = tiles.paddedKeys;
  int64_t Dp = tiles.paddedDim, Dvp = tiles.paddedValueDim;
  // dk and dv of the tile's keys, summed in f32 on the stack.
  KeyScratch sc;
  sc.dkAcc = scratch(Cp, Dp);
  sc.dvAcc = scratch(Cp, Dvp);
  if (pairs) {
    Type bf16 = b.getBF16Type();
    int64_t rowPairs = tiles.rowPairs();
    sc.kt = scratch(D / 2, 2 * Cp, bf16);
    sc.vt = scratch(Dv / 2, 2 * Cp, bf16);
    sc.qp = scratch(rowPairs, 2 * Dp, bf16);
    sc.dop = scratch(rowPairs, 2 * Dvp, bf16);
    sc.pp = scratch(rowPairs, 2 * Cp, bf16);
    sc.dsp = scratch(rowPairs, 2 * Cp, bf16);
    sc.dsr = scratch(2 * rowPairs, Cp, bf16);
    if (wholeHeads)
      sc.kRows = scratch(Cp / 2, 2 * Dp, bf16);
  } else {
    sc.kt = scratch(D, Cp);
    sc.vt = scratch(Dv, Cp);
    sc.qp = scratch(R, Dp);
    sc.dop = scratch(R, Dvp);
    if (wholeHeads)
      sc.kRows = scratch(Cp, Dp);
    if (rowsInPlace) {
      sc.qNeedsCopy = vec::rowsNeedCopy(cb, arg(kQ), 2, D);
      sc.doutNeedsCopy = vec::rowsNeedCopy(cb, arg(kDout), 2, Dv);
      sc.kNeedsCopy = vec::rowsNeedCopy(cb, arg(kK), 2, D);
    }
  }
  sc.ps = scratch(R, Cp);
  sc.ds = scratch(R, Cp);
  Value zero = cb.index(0), g = arg(kHead);
  // Keys [from, to) past kv_lens (or of no sequence) get zero gradients.
  auto zeroKeys = [&](Value from, Value to) {
    zeroRows(arg(kDk), g, from, to, Dp);
    zeroRows(arg(kDv), g, from, to, Dvp);
  };
  if (!wholeHeads) {
    Value j0 = cb.mul(arg(kTile), cb.index(C));
    Value n = cb.minSI(cb.index(C), cb.sub(keyLen, j0));
    cb.ifThen(cb.lt(zero, n), [&] { emitKeyTile(j0, n, sc); });
    zeroKeys(cb.maxSI(j0, keyLen), cb.minSI(cb.add(j0, cb.index(C)), keyRows));
    return;
  }
  // A whole-head item (b, g, 0) owns every key of KV head g and, when the
  // sequence has keys, the dq of its group (else the query items zero
  // it): zeros first, then the key tiles in order, then (16-bit dq) the
  // sums narrowed into dq.
  int64_t groupSize = variant.groupSize();
  auto forGroupHeads = [&](function_ref<void(Value)> body) {
    cb.ifThen(cb.lt(zero, keyLen), [&] {
      cb.forLoop(zero, cb.index(groupSize), 1, [&](Value member) {
        body(cb.add(cb.mul(g, cb.index(groupSize)), member));
      });
    });
  };
  forGroupHeads([&](Value h) { zeroRows(dqTarget(), h, zero, queryRows, Dp); });
  cb.forLoop(zero, keyLen, C, [&](Value j0) {
    emitKeyTile(j0, cb.minSI(cb.index(C), cb.sub(keyLen, j0)), sc);
  });
  if (!dqInPlace)
    forGroupHeads([&](Value h) {
      cb.forLoop(zero, queryRows, 1, [&](Value i) {
        for (int64_t d0 = 0; d0 < Dp; d0 += vw)
          storeOutput(loadVec(arg(kDqSums), {arg(kBatch), h, i, cb.index(d0)}),
                      arg(kDq), arg(kBatch), h, i, d0);
      });
    });
  zeroKeys(keyLen, keyRows);
}

void BackwardEmitter::emitQueryItem(bool rowStatsItem) {
  int64_t D = tiles.headDim, Dv = tiles.valueDim, C = tiles.keys,
          R = tiles.rows, Cp = tiles.paddedKeys, Rp = tiles.paddedRows;
  int64_t Dp = tiles.paddedDim, Dvp = tiles.paddedValueDim;
  Value batch = arg(kBatch), h = arg(kHead);
  Value zero = cb.index(0);
  Value kvHead = cb.divUI(h, cb.index(variant.groupSize()));
  HeadParams head = emitHeadParams(cb, module, prefix, variant, h);
  Value alive = cb.andI(arg(kAlive), head.staticAlive);
  Value row0 = cb.mul(arg(kTile), cb.index(R));
  // The tile's rows of the sequence (none past it) and the rows whose dq
  // the item writes: padding rows (past q_lens) too.
  Value rows = cb.minSI(cb.index(R), cb.sub(queryLen, row0));
  Value rowsEnd = cb.minSI(cb.add(row0, cb.index(R)), queryRows);
  Value zeroV = splatF(0.0f);

  // Rows of dead heads: zero dq (query items) or zero E_i (row items).
  auto writeZeros = [&] {
    cb.forLoop(row0, rowsEnd, 1, [&](Value i) {
      if (rowStatsItem) {
        store(cb.f32(0.0f), arg(kRowStats), {batch, h, i});
        return;
      }
      for (int64_t d0 = 0; d0 < Dp; d0 += vw)
        storeOutput(zeroV, arg(kDq), batch, h, i, d0);
    });
  };

  if (wholeHeads && !rowStatsItem) {
    // The key items wrote dq; without keys there are none.
    cb.ifThen(cb.cmpI(arith::CmpIPredicate::eq, keyLen, zero), writeZeros);
    return;
  }
  cb.ifThenElse(
      cb.andI(alive, cb.lt(zero, rows)),
      [&] {
        // Qt, dOt and the K and V rows: f32, or (pairs) Qt and dOt as
        // pairs of head dims, K and V read in place and K two keys
        // interleaved for dq, with dS^T two keys interleaved (dstp).
        Type bf16 = b.getBF16Type();
        Value qt, doutT, kp, vp, dstp;
        if (pairs) {
          qt = scratch(D / 2, 2 * Rp, bf16);
          doutT = scratch(Dv / 2, 2 * Rp, bf16);
          kp = scratch(Cp / 2, 2 * Dp, bf16);
          dstp = scratch(Cp / 2, 2 * Rp, bf16);
        } else {
          qt = scratch(D, Rp);
          doutT = scratch(Dv, Rp);
          kp = scratch(Cp, Dp);
          vp = scratch(Cp, Dvp);
        }
        Value st = scratch(Cp, Rp), dst = scratch(Cp, Rp);
        Value dqAcc = rowStatsItem ? Value() : scratch(Rp, Dp);
        // Per row (lanes of the elementwise step): lse' (lse less the row's
        // ALiBi bias), D_i or E_i,
        // dH_i, the visible keys' bounds (clamped to [-1, Lk]; none for rows
        // past the tile or without keys), the ALiBi origin, the row position.
        Value rowLse = scratch1(Rp), constant = scratch1(Rp),
              dEnt = scratch1(Rp);
        Value lo = scratch1(Rp, i32), hi = scratch1(Rp, i32),
              sinkEnd = scratch1(Rp, i32), origin = scratch1(Rp, i32),
              position = scratch1(Rp, i32);
        // The entropy sums of the row items share dq's place in the budget.
        Value entropySum = rowStatsItem ? scratch1(Rp) : Value();
        if (pairs) {
          packTransposedPairs(arg(kQ), batch, h, row0, rows, Rp, qt);
          packTransposedPairs(arg(kDout), batch, h, row0, rows, Rp, doutT);
        } else {
          packTransposed(arg(kQ), batch, h, row0, rows, Rp, qt);
          packTransposed(arg(kDout), batch, h, row0, rows, Rp, doutT);
        }
        MaskParams<Value> m = masks(head);
        Value last = cb.sub(rows, cb.index(1));
        cb.forLoop(zero, cb.index(Rp), 1, [&](Value r) {
          Value i = cb.add(row0, cb.minSI(r, last));
          Value lse = loadLse(batch, h, i);
          Value valid = cb.andI(cb.lt(r, rows), rowHasKeys(lse));
          Value diag = cb.add(i, positions.diagOffset);
          Value shifted =
              alibiShiftsRows(variant)
                  ? cb.fsub(lse, alibiRowBias(cb, head.alibiSlope, diag))
                  : lse;
          store(shifted, rowLse, {r});
          if (hasEntropy && !rowStatsItem) {
            store(load(arg(kRowStats), {batch, h, i}), constant, {r});
          } else {
            store(rowDot(batch, h, i), constant, {r});
          }
          if (hasEntropy)
            store(load(arg(kDentropy), {batch, h, i}), dEnt, {r});
          KeyBounds<Value> bounds = getKeyBounds(cb, m, diag);
          auto clamp = [&](Value bound) {
            return toI32(cb.minSI(cb.maxSI(bound, cb.index(-1)), keyLen));
          };
          Value none = cb.i32(-1);
          store(clamp(bounds.lo), lo, {r});
          store(cb.select(valid, clamp(bounds.hi), none), hi, {r});
          store(cb.select(valid, clamp(bounds.sinkEnd), none), sinkEnd, {r});
          store(toI32(alibiOrigin(cb, diag, variant.causal)), origin, {r});
          store(toI32(cb.add(positions.queryStart, i)), position, {r});
          if (rowStatsItem)
            store(cb.f32(0.0f), entropySum, {r});
          else
            for (int64_t d0 = 0; d0 < Dp; d0 += vw)
              storeVec(zeroV, dqAcc, {r, cb.index(d0)});
        });

        // The pair of head dims 2p, 2p + 1 of key j0 + c of k or v.
        auto keyPair = [&](BackwardArg a, Value j0, Value p, Value c) {
          return vec::broadcastPair(
              cb, arg(a), {batch, kvHead, cb.add(j0, c), cb.add(p, p)}, vw);
        };
        auto visitTile = [&](Value j0, Value n) {
          // S^T = K Qt and dP^T = V dOt (keys past n repeat the last one;
          // never read).
          if (pairs) {
            emitPairProduct(
                st, n, Rp / vw, cb.index(D / 2),
                [&](Value p, Value c) { return keyPair(kK, j0, p, c); }, qt,
                /*accumulate=*/false, /*clampRows=*/true);
            if (!rowStatsItem) {
              emitPairProduct(
                  dst, n, Rp / vw, cb.index(Dv / 2),
                  [&](Value p, Value c) { return keyPair(kV, j0, p, c); },
                  doutT, /*accumulate=*/false, /*clampRows=*/true);
              packInterleavedRows(arg(kK), batch, kvHead, j0, n, kp);
            }
          } else {
            packRows(arg(kK), batch, kvHead, j0, n, kp);
            emitProduct(
                st, n, Rp / vw, cb.index(D),
                [&](Value d, Value c) { return load(kp, {c, d}); }, qt,
                /*accumulate=*/false, /*clampRows=*/true);
            if (!rowStatsItem) {
              packRows(arg(kV), batch, kvHead, j0, n, vp);
              emitProduct(
                  dst, n, Rp / vw, cb.index(Dv),
                  [&](Value e, Value c) { return load(vp, {c, e}); }, doutT,
                  /*accumulate=*/false, /*clampRows=*/true);
            }
          }
          // Key by key, lanes = rows, the rows' values in registers.
          for (int64_t v = 0; v < Rp / vw; ++v) {
            Value r0 = cb.index(v * vw);
            RowValues row{cb.fmul(loadVec(rowLse, {r0}), splatF(-kLog2e)),
                          loadVec(constant, {r0}),
                          hasEntropy ? loadVec(dEnt, {r0}) : Value(),
                          std::nullopt};
            if (variant.hasDropout)
              row.dropout = dropoutStream(h, loadVec(position, {r0}));
            KeyBounds<Value> lanes{loadVec(lo, {r0}), loadVec(hi, {r0}),
                                   loadVec(sinkEnd, {r0})};
            Value originV = variant.hasAlibi ? loadVec(origin, {r0}) : Value();
            Value init = rowStatsItem ? loadVec(entropySum, {r0}) : zeroV;
            scf::ForOp loop =
                cb.forLoopCarrying(n, {init}, [&](Value c, ValueRange carried) {
                  Value jV = splat(toI32(cb.add(j0, c)));
                  Value visible = isKeyInBounds(cb, lanes, jV);
                  Value dist;
                  if (variant.hasAlibi)
                    dist = math::AbsFOp::create(
                        b, loc,
                        arith::SIToFPOp::create(b, loc, vec(),
                                                cb.sub(originV, jV)));
                  PairScores scores =
                      pairScores(head, row, loadVec(st, {c, r0}), dist,
                                 /*needScore=*/hasEntropy || rowStatsItem);
                  if (rowStatsItem) {
                    Value ps =
                        cb.select(visible, cb.fmul(scores.p, scores.s), zeroV);
                    return SmallVector<Value>{cb.fadd(carried[0], ps)};
                  }
                  Value keyPos = cb.add(jV, splat(toI32(positions.keyStart)));
                  Value dS =
                      pairGradients(head, row, scores, loadVec(dst, {c, r0}),
                                    keyPos, visible)
                          .second;
                  storeVec(dS, dst, {c, r0});
                  return SmallVector<Value>{carried[0]};
                });
            if (rowStatsItem)
              storeVec(loop.getResult(0), entropySum, {r0});
          }
          // dq[r] += sum_c dS^T[c, r] K[c] (pairs: over pairs of keys,
          // dS^T rounded to bf16 two keys interleaved, 0 past n).
          if (rowStatsItem)
            return;
          if (!pairs) {
            emitProduct(
                dqAcc, rows, Dp / vw, n,
                [&](Value c, Value r) { return load(dst, {c, r}); }, kp,
                /*accumulate=*/true, /*clampRows=*/true);
            return;
          }
          Value two = cb.index(2);
          Value keyPairs = cb.divUI(cb.add(n, cb.index(1)), two);
          cb.forLoop(zero, keyPairs, 1, [&](Value q) {
            Value even = cb.mul(q, two);
            Value odd = cb.add(even, cb.index(1));
            Value hasOdd = cb.lt(odd, n);
            Value oddRow = cb.minSI(odd, cb.sub(n, cb.index(1)));
            for (int64_t v = 0; v < Rp / vw; ++v) {
              Value r0 = cb.index(v * vw);
              Value second =
                  cb.select(hasOdd, loadVec(dst, {oddRow, r0}), zeroV);
              storeVec(interleaveBf16(loadVec(dst, {even, r0}), second), dstp,
                       {q, cb.index(2 * v * vw)});
            }
          });
          emitPairProduct(
              dqAcc, rows, Dp / vw, keyPairs,
              [&](Value q, Value r) {
                return vec::broadcastPair(cb, dstp, {q, cb.add(r, r)}, vw);
              },
              kp, /*accumulate=*/true, /*clampRows=*/true);
        };
        // The tile's key ranges (disjoint), in tiles of C keys from their
        // starts: every visible key is in exactly one visited tile.
        KeyRanges ranges =
            computeKeyRangesAt(cb, m, row0, rows, positions.diagOffset, keyLen);
        auto visitRange = [&](Value rangeLo, Value rangeHi) {
          Value len = cb.maxSI(cb.sub(rangeHi, rangeLo), zero);
          cb.forLoop(zero, len, C, [&](Value offset) {
            Value j0 = cb.add(rangeLo, offset);
            visitTile(j0, cb.minSI(cb.index(C), cb.sub(rangeHi, j0)));
          });
        };
        if (variant.hasSinkKeys())
          visitRange(zero, ranges.sinkHi);
        visitRange(ranges.windowLo, ranges.windowHi);

        cb.forLoop(zero, rows, 1, [&](Value r) {
          Value i = cb.add(row0, r);
          if (rowStatsItem) {
            // H_i = lse'_i - sum_j P_ij s_ij, E_i = D_i + dH_i (H_i - lse'_i):
            // 0 for rows without keys (their sums are 0 and lse' is -inf).
            Value lse = loadLse(batch, h, i);
            Value shifted = load(rowLse, {r});
            Value entropyTerm = cb.fmul(
                load(dEnt, {r}),
                cb.fsub(cb.fsub(shifted, load(entropySum, {r})), shifted));
            Value stat = cb.select(rowHasKeys(lse),
                                   cb.fadd(load(constant, {r}), entropyTerm),
                                   cb.f32(0.0f));
            store(stat, arg(kRowStats), {batch, h, i});
            return;
          }
          for (int64_t d0 = 0; d0 < Dp; d0 += vw)
            storeOutput(loadVec(dqAcc, {r, cb.index(d0)}), arg(kDq), batch, h,
                        i, d0);
        });
        // The tile's padding rows.
        if (!rowStatsItem)
          zeroRows(arg(kDq), h, cb.add(row0, rows), rowsEnd, Dp);
      },
      writeZeros);
}

void BackwardEmitter::emitPrelude() {
  sequence = arg(kBatch);
  queryLen = queryRows = memref::DimOp::create(b, loc, arg(kQ), 2);
  keyLen = keyRows = memref::DimOp::create(b, loc, arg(kK), 2);
  if (kvLens || qLens || cuSeqlensQ || cuSeqlensK)
    emitSequence();
  positions = readCallPositions(cb, arg(kDropoutRng), queryLen, keyLen);
}

void BackwardEmitter::emitSequence() {
  Value zero = cb.index(0), one = cb.index(1);
  Value batch = sequence;
  Value queryBatch = batch, queryBase = zero, keyBatch = batch, keyBase = zero;
  // With packed queries, item row S covers what follows the last
  // sequence: rows (and packed keys) with nothing to see.
  Value isSequence = cb.boolean(true);
  auto packed = [&](Value cu, Value total, Value &base, Value &rows) {
    Value last = cb.sub(memref::DimOp::create(b, loc, cu, 0), one);
    base = loadIndex(cu, cb.minSI(batch, last));
    Value end = cb.ifValue(
        cb.lt(batch, last), b.getIndexType(),
        [&] { return loadIndex(cu, cb.add(batch, one)); },
        [&] { return total; });
    rows = cb.sub(end, base);
    return cb.lt(batch, last);
  };
  if (cuSeqlensQ) {
    queryBatch = zero;
    isSequence = packed(cuSeqlensQ, queryRows, queryBase, queryRows);
    queryLen = queryRows;
  } else if (qLens) {
    queryLen = loadIndex(qLens, batch);
  }
  if (cuSeqlensK) {
    keyBatch = zero;
    Value hasKeys = packed(cuSeqlensK, keyRows, keyBase, keyRows);
    keyLen = cb.select(hasKeys, keyRows, zero);
  } else {
    // Dense keys: batch b is sequence b; item row S has none.
    if (cuSeqlensQ) {
      keyBatch = cb.select(isSequence, batch, zero);
      keyRows = cb.select(isSequence, keyRows, zero);
    }
    keyLen = keyRows;
    if (kvLens)
      keyLen = cb.ifValue(
          isSequence, b.getIndexType(),
          [&] { return loadIndex(kvLens, batch); }, [&] { return zero; });
  }
  if (cuSeqlensQ)
    keyLen = cb.select(isSequence, keyLen, zero);
  // Views of the sequence's rows and keys, all at batch 0.
  auto view = [&](BackwardArg a, Value at, Value base, Value rows) {
    Value source = args[a];
    if (!source)
      return;
    auto type = cast<MemRefType>(source.getType());
    int64_t rank = type.getRank();
    SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0)), sizes,
        strides(rank, b.getIndexAttr(1));
    offsets[0] = at;
    offsets[2] = base;
    for (int64_t d = 0; d < rank; ++d)
      sizes.push_back(memref::getMixedSize(b, loc, source, d));
    sizes[0] = b.getIndexAttr(1);
    sizes[2] = rows;
    args[a] =
        memref::SubViewOp::create(b, loc, source, offsets, sizes, strides);
  };
  for (BackwardArg a : {kQ, kO, kLse, kDout, kDentropy, kDq, kDqSums})
    view(a, queryBatch, queryBase, queryRows);
  if (hasEntropy)
    view(kRowStats, queryBatch, queryBase, queryRows);
  for (BackwardArg a : {kK, kV, kDk, kDv})
    view(a, keyBatch, keyBase, keyRows);
  args[kBatch] = zero;
}

void BackwardEmitter::emitItem(BackwardItemKind kind) {
  emitPrelude();
  switch (kind) {
  case BackwardItemKind::key:
    return emitKeyItem();
  case BackwardItemKind::query:
    return emitQueryItem(/*rowStatsItem=*/false);
  case BackwardItemKind::rowStats:
    return emitQueryItem(/*rowStatsItem=*/true);
  }
}

void BackwardEmitter::emit() {
  emitPrelude();
  auto isPhase = [&](int64_t p) {
    return cb.cmpI(arith::CmpIPredicate::eq, arg(kPhase), cb.index(p));
  };
  cb.ifThenElse(
      isPhase(0), [&] { emitKeyItem(); },
      [&] {
        if (!hasEntropy)
          return emitQueryItem(/*rowStatsItem=*/false);
        cb.ifThenElse(
            isPhase(1), [&] { emitQueryItem(/*rowStatsItem=*/false); },
            [&] { emitQueryItem(/*rowStatsItem=*/true); });
      });
}

} // namespace

FailureOr<BackwardItemChoice>
mlir::mha::chooseBackwardItems(AttentionOp attention, int64_t vectorWidth,
                               int64_t rowsOption, int64_t keysOption,
                               WholeHeadItems wholeHeadItems, bool bf16Dot) {
  AttentionShape shape = AttentionShape::get(attention);
  bool sixteenBit = hasSixteenBitInputs(attention);
  int64_t D = shape.headDim, Dv = shape.valueDim;
  if (D > kMaxCpuHeadDim || Dv > kMaxCpuHeadDim)
    return attention.emitError()
           << "head dims D = " << D << ", Dv = " << Dv
           << " are not supported by the CPU pipeline (at most "
           << kMaxCpuHeadDim << ")";
  // The work items keep their f32 tiles on the stack. Default tiles (the
  // options at 0) are 64 rows and 64 keys, halved while they do not fit
  // (large head dims); tiles given as options must fit.
  if (vectorWidth < 4 || vectorWidth % 4 != 0)
    return attention.emitError()
           << "mha-tile-backward: vector-width must be a multiple of 4, not "
           << vectorWidth;
  bool automatic = rowsOption == 0 && keysOption == 0;
  int64_t rows = rowsOption != 0 ? rowsOption : 64;
  int64_t keys = keysOption != 0 ? keysOption : 64;
  BackwardTiles tiles =
      BackwardTiles::get(vectorWidth, rows, keys, D, Dv, sixteenBit);
  while (automatic && tiles.scratchBytes() > kMaxWorkItemScratchBytes &&
         rows > 8) {
    rows /= 2;
    keys /= 2;
    tiles = BackwardTiles::get(vectorWidth, rows, keys, D, Dv, sixteenBit);
  }
  if (tiles.scratchBytes() > kMaxWorkItemScratchBytes)
    return attention.emitError()
           << "backward tiles of " << rows << " rows and " << keys
           << " keys need " << tiles.scratchBytes()
           << " bytes of scratch per work item, more than the "
           << kMaxWorkItemScratchBytes << " allowed: use fewer rows or cols";
  // Whole-head key items (FlashAttention-2's one pass: dq summed by the
  // item that owns the KV head, so no query item recomputes S and dP)
  // where dq can hold the f32 sums (f32 q, k and v) or the runtime gives
  // an f32 temporary, D and Dv multiples of 16 (every ISA copy chooses
  // alike), and enough KV heads to spread over the threads.
  bool wholeHeads = wholeHeadItems != WholeHeadItems::never && D % 16 == 0 &&
                    Dv % 16 == 0 && shape.numKvHeads >= kMinWholeHeadKvHeads;
  bool dqSums =
      wholeHeads && sixteenBit && wholeHeadItems == WholeHeadItems::orDqSums;
  // vdpbf16ps on pairs of head dims: bf16 inputs, even head dims, 16 lanes.
  auto isBf16 = [](Value v) {
    return getElementTypeOrSelf(v.getType()).isBF16();
  };
  bool bf16Pairs = bf16Dot && vectorWidth == 16 && D % 2 == 0 && Dv % 2 == 0 &&
                   isBf16(attention.getQuery()) && isBf16(attention.getKey()) &&
                   isBf16(attention.getValue());
  return BackwardItemChoice{vectorWidth, rows,   keys,
                            wholeHeads,  dqSums, bf16Pairs};
}

int64_t BackwardItemChoice::getGridKeys() const {
  return wholeHeads ? kWholeHeadKeys : keys;
}

void mlir::mha::emitBackwardWorkItem(OpBuilder &b, ModuleOp module,
                                     StringRef prefix, AttentionOp attention,
                                     const BackwardItemChoice &choice,
                                     const BackwardWorkItem &item,
                                     BackwardItemKind kind) {
  BackwardEmitter(b, module, prefix, attention, item, choice).emitItem(kind);
  // The packing transposes become shuffles now (see tileBackward).
}

namespace {

struct MhaTileBackwardPass
    : public mha::impl::MhaTileBackwardPassBase<MhaTileBackwardPass> {
  using MhaTileBackwardPassBase::MhaTileBackwardPassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (rowsPerItem < 0 || keysPerItem < 0) {
      module.emitError() << "mha-tile-backward: rows and cols must be >= 1 "
                            "(0: the default)";
      return signalPassFailure();
    }
    SmallVector<func::FuncOp> funcs;
    // An attention-transfer loss's gradient and a layer's are mha-tile's
    // (TileKl.cpp, TileLayerBackward.cpp).
    for (auto func : module.getOps<func::FuncOp>())
      if (func->hasAttr(MhaDialect::kBackwardAttrName) &&
          func.getOps<AttentionKlOp>().empty() &&
          func.getOps<LinearOp>().empty())
        funcs.push_back(func);
    for (func::FuncOp func : funcs)
      if (failed(tileBackward(module, func)))
        return signalPassFailure();
  }

  LogicalResult tileBackward(ModuleOp module, func::FuncOp func);
};

LogicalResult MhaTileBackwardPass::tileBackward(ModuleOp module,
                                                func::FuncOp func) {
  FailureOr<AttentionOp> matched = matchExportableFunction(func);
  if (failed(matched))
    return failure();
  AttentionOp attention = *matched;
  MLIRContext *ctx = func.getContext();
  AttentionShape shape = AttentionShape::get(attention);
  if (!attention.getReturnLse())
    return attention.emitError() << "mha-tile-backward: the verifier admits "
                                 << "only forwards returning lse";
  bool hasEntropy = attention.getReturnEntropy();
  FailureOr<BackwardItemChoice> choice = chooseBackwardItems(
      attention, vectorWidth, rowsPerItem, keysPerItem,
      wholeHeadItems ? WholeHeadItems::orDqSums : WholeHeadItems::never,
      bf16Dot);
  if (failed(choice))
    return failure();
  int64_t rows = choice->rows;
  int64_t gridKeys = choice->getGridKeys();
  // The dq temporary's columns: D (whole heads need D % 16 == 0).
  int64_t dqColumns = choice->dqSums ? shape.headDim : 0;

  Type outputType = attention.getOutput().getType();
  // The forward's arguments (q, k, v, then its lengths and offsets), its
  // results, dout, then the gradients.
  SmallVector<Parameter> params = {
      {attention.getQuery().getType(), TensorRole::query},
      {attention.getKey().getType(), TensorRole::key},
      {attention.getValue().getType(), TensorRole::value}};
  for (auto [operand, role] :
       {std::pair(attention.getKvLens(), TensorRole::kv_lens),
        std::pair(attention.getQLens(), TensorRole::q_lens),
        std::pair(attention.getCuSeqlensQ(), TensorRole::cu_seqlens_q),
        std::pair(attention.getCuSeqlensK(), TensorRole::cu_seqlens_k)})
    if (operand)
      params.push_back({operand.getType(), role});
  params.append({{outputType, TensorRole::saved_output},
                 {attention.getLse().getType(), TensorRole::saved_lse},
                 {outputType, TensorRole::grad_output}});
  if (hasEntropy)
    params.push_back(
        {attention.getEntropy().getType(), TensorRole::grad_entropy});
  params.append({{attention.getQuery().getType(), TensorRole::grad_query},
                 {attention.getKey().getType(), TensorRole::grad_key},
                 {attention.getValue().getType(), TensorRole::grad_value}});
  OpBuilder b(func);
  std::string name = (func.getSymName() + "_backward").str();
  func::FuncOp kernel =
      createBackwardKernel(b, func.getLoc(), name, params, rows, shape.numHeads,
                           {shape.numKvHeads, gridKeys, /*index of k=*/kK,
                            int64_t(hasEntropy), dqColumns});
  Block *entry = &kernel.front();
  auto tensor = [&](TensorRole role) -> Value {
    for (auto [i, p] : llvm::enumerate(params))
      if (p.role == role)
        return entry->getArgument(i);
    return Value();
  };
  BackwardWorkItem item;
  item.q = tensor(TensorRole::query);
  item.k = tensor(TensorRole::key);
  item.v = tensor(TensorRole::value);
  item.kvLens = tensor(TensorRole::kv_lens);
  item.qLens = tensor(TensorRole::q_lens);
  item.cuSeqlensQ = tensor(TensorRole::cu_seqlens_q);
  item.cuSeqlensK = tensor(TensorRole::cu_seqlens_k);
  item.o = tensor(TensorRole::saved_output);
  item.lse = tensor(TensorRole::saved_lse);
  item.dout = tensor(TensorRole::grad_output);
  item.dentropy = tensor(TensorRole::grad_entropy);
  item.dq = tensor(TensorRole::grad_query);
  item.dk = tensor(TensorRole::grad_key);
  item.dv = tensor(TensorRole::grad_value);
  // The runtime's descriptors and the grid position follow the tensors.
  auto trailing = [&](BackwardKernelArg a) {
    return entry->getArgument(params.size() + static_cast<unsigned>(a));
  };
  item.aliveMask = trailing(BackwardKernelArg::aliveMask);
  item.rowStats = trailing(BackwardKernelArg::rowStats);
  item.callWords = trailing(BackwardKernelArg::callWords);
  item.phase = trailing(BackwardKernelArg::phase);
  item.batch = trailing(BackwardKernelArg::batch);
  item.head = trailing(BackwardKernelArg::head);
  item.tile = trailing(BackwardKernelArg::tile);
  item.alive = trailing(BackwardKernelArg::alive);
  // The dq temporary, its rows D wide (the runtime sizes it so).
  if (dqColumns > 0)
    item.dqSums = memref::CastOp::create(
        b, attention.getLoc(),
        MemRefType::get({ShapedType::kDynamic, ShapedType::kDynamic,
                         ShapedType::kDynamic, dqColumns},
                        b.getF32Type()),
        trailing(BackwardKernelArg::dqSums));
  BackwardEmitter(b, module, name, attention, item, *choice).emit();
  func::ReturnOp::create(b, attention.getLoc());
  // The packing transposes become shuffles of the loaded rows now, as in
  // convert-mha-to-vector, before a canonicalizer can fold them into
  // element-by-element moves.
  RewritePatternSet transposes(ctx);
  vector::populateVectorTransposeLoweringPatterns(
      transposes, vector::VectorTransposeLowering::Shuffle16x16);
  return applyPatternsGreedily(kernel, std::move(transposes));
}

} // namespace

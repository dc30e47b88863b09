//===- FlashKernelBlock.cpp - A flash kernel's block ------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The part of a flash-attention kernel (FlashKernel.cpp) that places its
// block: the thread's ids, the block's query tile, batch and heads, its
// sequence in a packed or padded batch (cu_seqlens, q_lens, kv_lens, block
// tables), and the key tiles its rows can see.
//
//===----------------------------------------------------------------------===//

#include "FlashKernelEmitter.h"

#include "mha/Codegen/Constants.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::mha;

namespace mlir::mha::detail {

void FlashKernelEmitter::emitThreadIds() {
  Type indexType = b.getIndexType();
  tid = gpu::ThreadIdOp::create(b, loc, indexType, gpu::Dimension::x);
  qTile = gpu::BlockIdOp::create(b, loc, indexType, gpu::Dimension::x);
  if (cfg.splitKeys) {
    parts = memref::DimOp::create(b, loc, args.partialLse, 0);
    part = arith::RemUIOp::create(b, loc, qTile, parts);
    qTile = cb.divUI(qTile, parts);
  }
  headBlock = gpu::BlockIdOp::create(b, loc, indexType, gpu::Dimension::y);
  batch = gpu::BlockIdOp::create(b, loc, indexType, gpu::Dimension::z);
  computeLanes(cb, tid);
}

/// The offset `cu[i]` clamped to [0, total].
static Value clampedOffset(CodegenBuilder &cb, Value cu, Value i, Value total) {
  OpBuilder &b = cb.builder();
  Value n = cb.indexCast(b.getIndexType(),
                         memref::LoadOp::create(b, cb.getLoc(), cu, i));
  return cb.minSI(cb.maxSI(n, cb.index(0)), total);
}

void FlashKernelEmitter::findPackedSequence(int64_t rowsPerHead) {
  // Block x walks the query tiles of sequence 0, then of sequence 1, ...,
  // then those of the rows past the last sequence (the grid has enough
  // for any offsets: ceil(total / rows) + S + 1). Each sequence's rows are
  // [cu[s], max(cu[s + 1], cu[s])) clamped to the tensor: whatever the
  // offsets hold, nothing outside q, o and lse is touched.
  Value total = memref::DimOp::create(b, loc, args.q, 2);
  Value entries = memref::DimOp::create(b, loc, args.cuSeqlensQ, 0);
  Value sequences = cb.maxSI(cb.sub(entries, cb.index(1)), cb.index(0));
  Value rows = cb.index(rowsPerHead);
  Value falseV = cb.boolean(false), zero = cb.index(0);
  // Carried: tiles before sequence s, the block's sequence, its first row
  // and rows, its first tile, found.
  scf::ForOp scan = cb.forLoopCarrying(
      sequences, ValueRange{zero, zero, zero, zero, zero, falseV},
      [&](Value s, ValueRange acc) -> SmallVector<Value> {
        Value start = clampedOffset(cb, args.cuSeqlensQ, s, total);
        Value end = cb.maxSI(
            clampedOffset(cb, args.cuSeqlensQ, cb.add(s, cb.index(1)), total),
            start);
        Value len = cb.sub(end, start);
        Value tiles = cb.divUI(cb.add(len, cb.index(rowsPerHead - 1)), rows);
        Value after = cb.add(acc[0], tiles);
        Value hit = cb.andI(cb.cmpI(arith::CmpIPredicate::eq, acc[5], falseV),
                            cb.lt(qTile, after));
        return {after,
                cb.select(hit, s, acc[1]),
                cb.select(hit, start, acc[2]),
                cb.select(hit, len, acc[3]),
                cb.select(hit, acc[0], acc[4]),
                cb.orI(acc[5], hit)};
      });
  inSequence = scan.getResult(5);
  // Past the last sequence: the rows from cu[S] to the end, no keys.
  Value tailStart = cb.ifValue(
      cb.gt(entries, zero), b.getIndexType(),
      [&] { return clampedOffset(cb, args.cuSeqlensQ, sequences, total); },
      [&] { return zero; });
  sequence = cb.select(inSequence, scan.getResult(1), sequences);
  qOffset = cb.select(inSequence, scan.getResult(2), tailStart);
  writeRows =
      cb.select(inSequence, scan.getResult(3), cb.sub(total, tailStart));
  qTile = cb.sub(qTile,
                 cb.select(inSequence, scan.getResult(4), scan.getResult(0)));
  qBatch = zero;
}

Value FlashKernelEmitter::sequenceLength(Value lengths, Value size) {
  if (!lengths)
    return size;
  if (!args.cuSeqlensQ && !args.cuSeqlensK)
    return loadClampedLength(cb, lengths, sequence, size);
  // The host cannot relate S + 1 offsets to S lengths: a sequence past the
  // lengths' entries has none.
  return cb.ifValue(
      cb.andI(inSequence,
              cb.lt(sequence, memref::DimOp::create(b, loc, lengths, 0))),
      b.getIndexType(),
      [&] { return loadClampedLength(cb, lengths, sequence, size); },
      [&] { return cb.index(0); });
}

std::pair<Value, Value> FlashKernelEmitter::packedKeys() {
  // Sequence s's keys are [cu_k[s], max(cu_k[s + 1], cu_k[s])) clamped to
  // the tensor; a sequence past cu_k's entries has none.
  Value total = memref::DimOp::create(b, loc, args.k, 2);
  Value entries = memref::DimOp::create(b, loc, args.cuSeqlensK, 0);
  Value has =
      cb.andI(inSequence, cb.lt(cb.add(sequence, cb.index(1)), entries));
  Type indexType = b.getIndexType();
  Value start = cb.ifValue(
      has, indexType,
      [&] { return clampedOffset(cb, args.cuSeqlensK, sequence, total); },
      [&] { return cb.index(0); });
  Value end = cb.ifValue(
      has, indexType,
      [&] {
        return clampedOffset(cb, args.cuSeqlensK, cb.add(sequence, cb.index(1)),
                             total);
      },
      [&] { return cb.index(0); });
  return {start, cb.maxSI(cb.sub(end, start), cb.index(0))};
}

void FlashKernelEmitter::emitRowsAndHeads() {
  // GQA packing: the block computes `P` query heads of one KV group,
  // rowsPerHead query rows each; its row tiles are head-major.
  const int64_t P = cfg.headsPerBlock, rowsPerHead = cfg.rowsPerBlock() / P;
  const int64_t tilesPerHead = rowsPerHead / 16;
  // The sequence's real rows and valid keys, clamped to the tensors:
  // whatever the lengths and offsets hold, nothing past the tensors is
  // read (checking them on the host would wait for the stream).
  queryRows = memref::DimOp::create(b, loc, args.q, 2);
  sequence = qBatch = kBatch = batch;
  qOffset = kOffset = cb.index(0);
  writeRows = queryRows;
  inSequence = cb.boolean(true);
  if (args.cuSeqlensQ)
    findPackedSequence(rowsPerHead);
  Value sequenceRows = args.cuSeqlensQ
                           ? cb.select(inSequence, writeRows, cb.index(0))
                           : queryRows;
  queryLen = sequenceLength(args.qLens, sequenceRows);
  // A paged cache holds table columns x page size keys per sequence.
  Value capacity = memref::DimOp::create(b, loc, args.k, 2);
  if (args.blockTable)
    capacity =
        cb.mul(memref::DimOp::create(b, loc, args.blockTable, 1), capacity);
  if (args.cuSeqlensK) {
    kBatch = cb.index(0);
    std::tie(kOffset, capacity) = packedKeys();
  }
  keyLen = sequenceLength(args.kvLens, capacity);
  if (args.cuSeqlensQ)
    keyLen = cb.select(inSequence, keyLen, cb.index(0));
  // Nor to the block table's rows (a sequence without one has no keys).
  if (args.cuSeqlensQ && args.blockTable)
    keyLen = cb.select(
        cb.lt(sequence, memref::DimOp::create(b, loc, args.blockTable, 0)),
        keyLen, cb.index(0));
  diagOffset = cb.sub(keyLen, queryLen);
  row0 = cb.mul(qTile, cb.index(rowsPerHead));
  blockRows = cb.minSI(cb.index(rowsPerHead), cb.sub(queryLen, row0));
  head0 = cb.mul(headBlock, cb.index(P));
  kvHead = cb.divUI(head0, cb.index(variant.groupSize()));
  auto headParams = [&](Value head) {
    return emitGpuHeadParams(cb, module, prefix, variant, head, args.headMask);
  };
  // Row tile m of this warp: its head and its first query row.
  warpTile = cb.mul(warp, cb.index(mt));
  GpuHeadParams blockHead;
  if (P == 1)
    blockHead = headParams(head0);
  for (int64_t m = 0; m < mt; ++m) {
    Value tile = cb.add(warpTile, cb.index(m));
    if (P == 1) {
      tileHeads.push_back(blockHead);
      tileRow0.push_back(cb.add(row0, cb.mul(tile, cb.index(16))));
      continue;
    }
    Value inHead = arith::RemUIOp::create(b, loc, tile, cb.index(tilesPerHead));
    Value h = cb.add(head0, cb.divUI(tile, cb.index(tilesPerHead)));
    tileHeads.push_back(headParams(h));
    tileRow0.push_back(cb.add(row0, cb.mul(inHead, cb.index(16))));
  }
  for (int64_t hh = 0; hh < P; ++hh)
    blockHeads.push_back(P == 1 ? blockHead
                                : headParams(cb.add(head0, cb.index(hh))));
}

void FlashKernelEmitter::emitKeyTileRanges() {
  // The key tiles this block visits: the sink range, then the window range,
  // the union over its heads (packing only groups heads with equal
  // windows, so the union loses nothing; dead heads add nothing).
  Value anyAlive = cb.boolean(false);
  for (auto [n, hp] : llvm::enumerate(blockHeads)) {
    KeyRanges r = computeKeyRanges(cb, hp.params.masks(variant), row0,
                                   blockRows, queryLen, keyLen);
    Value lo = cb.select(hp.alive, r.windowLo, keyLen);
    Value hi = cb.select(hp.alive, r.windowHi, cb.index(0));
    if (n == 0) {
      ranges = r;
      ranges.windowLo = lo;
      ranges.windowHi = hi;
    } else {
      ranges.windowLo = cb.minSI(ranges.windowLo, lo);
      ranges.windowHi = cb.maxSI(ranges.windowHi, hi);
    }
    anyAlive = cb.orI(anyAlive, hp.alive);
  }
  const int64_t C = cfg.cols;
  auto ceilDiv = [&](Value x) {
    return cb.divUI(cb.add(x, cb.index(C - 1)), cb.index(C));
  };
  numSink = ceilDiv(ranges.sinkHi);
  Value windowLen =
      cb.maxSI(cb.sub(ranges.windowHi, ranges.windowLo), cb.index(0));
  Value numWindow = ceilDiv(windowLen);
  // A block of padding rows only (past q_lens, or past its packed
  // sequence) visits no key.
  if (args.qLens || args.cuSeqlensQ)
    anyAlive = cb.andI(anyAlive, cb.gt(blockRows, cb.index(0)));
  numTiles = cb.select(anyAlive, cb.add(numSink, numWindow), cb.index(0));
  if (!cfg.splitKeys)
    return;
  // Part p of P visits tiles [p * n / P, (p + 1) * n / P) of the n.
  firstTile = cb.divUI(cb.mul(part, numTiles), parts);
  Value endTile = cb.divUI(cb.mul(cb.add(part, cb.index(1)), numTiles), parts);
  numTiles = cb.sub(endTile, firstTile);
}

std::pair<Value, Value> FlashKernelEmitter::tileBounds(Value i) {
  const int64_t C = cfg.cols;
  i = keyTileOf(i);
  Value isSink = cb.cmpI(arith::CmpIPredicate::ult, i, numSink);
  Value sinkStart = cb.mul(i, cb.index(C));
  Value windowStart =
      cb.add(ranges.windowLo, cb.mul(cb.sub(i, numSink), cb.index(C)));
  Value start = cb.select(isSink, sinkStart, windowStart);
  Value limit = cb.select(isSink, ranges.sinkHi, ranges.windowHi);
  return {start, cb.minSI(cb.add(start, cb.index(C)), limit)};
}

} // namespace mlir::mha::detail

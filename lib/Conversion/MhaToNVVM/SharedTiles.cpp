//===- SharedTiles.cpp - Shared-memory tiles of the flash kernel ----------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "SharedTiles.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::mha;

int64_t mlir::mha::getFlashKernelSharedBytes(const FlashKernelConfig &cfg) {
  int64_t rows = cfg.rowsPerBlock();
  if (cfg.warpgroupMma) // unpadded, room to align the start to 1024, and
                        // four mbarriers with TMA
    return kSmemEltBytes * (rows * cfg.headDim + 2 * cfg.cols * cfg.headDim +
                            2 * cfg.cols * cfg.valueDim) +
           1024 + (cfg.tmaLoads ? 32 : 0);
  int64_t qStride = cfg.headDim + cfg.pad, vStride = cfg.valueDim + cfg.pad;
  return kSmemEltBytes *
         (rows * qStride + 2 * cfg.cols * qStride + 2 * cfg.cols * vStride);
}

Value mlir::mha::dynamicSharedMemory(CodegenBuilder &cb) {
  OpBuilder &b = cb.builder();
  auto workgroup =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  return gpu::DynamicSharedMemoryOp::create(
      b, cb.getLoc(),
      MemRefType::get({ShapedType::kDynamic}, b.getI8Type(), AffineMap(),
                      workgroup));
}

Value mlir::mha::sharedView(CodegenBuilder &cb, Value smem, int64_t byteOffset,
                            ArrayRef<int64_t> shape, Type elementType) {
  OpBuilder &b = cb.builder();
  auto workgroup =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  return memref::ViewOp::create(
      b, cb.getLoc(),
      MemRefType::get(shape, elementType, AffineMap(), workgroup), smem,
      cb.index(byteOffset), ValueRange{});
}

SharedTiles SharedTiles::allocate(CodegenBuilder &cb, PtxBuilder &ptx,
                                  const FlashKernelConfig &cfg) {
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
  Type elt = cfg.elementType;
  const int64_t D = cfg.headDim, Dv = cfg.valueDim, C = cfg.cols;
  const int64_t rows = cfg.rowsPerBlock();
  auto workgroup =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  Value smem = dynamicSharedMemory(cb);
  SharedTiles t;
  if (!cfg.warpgroupMma) {
    // Q [1, rows, D + pad], then K [2, C, D + pad] and V [2, C, Dv + pad].
    int64_t qStride = D + cfg.pad, vStride = Dv + cfg.pad;
    auto view = [&](int64_t byteOffset, ArrayRef<int64_t> shape) -> Value {
      return sharedView(cb, smem, byteOffset, shape, elt);
    };
    int64_t qBytes = rows * qStride * kSmemEltBytes;
    int64_t kBytes = 2 * C * qStride * kSmemEltBytes;
    t.q.mem = view(0, {1, rows, qStride});
    t.k.mem = view(qBytes, {2, C, qStride});
    t.v.mem = view(qBytes + kBytes, {2, C, vStride});
    return t;
  }
  // Swizzled: skip to the next 1024-byte boundary.
  Value base = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, smem);
  Value pad = cb.andI(cb.sub(cb.index(0), base), cb.index(1023));
  int64_t qElems = rows * D, kElems = 2 * C * D, vElems = 2 * C * Dv;
  Value flat = memref::ViewOp::create(
      b, loc,
      MemRefType::get({qElems + kElems + vElems}, elt, AffineMap(), workgroup),
      smem, pad, ValueRange{});
  t.q = {flat, 0, 0, rows, true};
  t.k = {flat, qElems, C * D, C, true};
  t.v = {flat, qElems + kElems, C * Dv, C, true};
  Value addr = ptx.toI64(cb.add(base, pad));
  auto at = [&](int64_t bytes) { return cb.add(addr, ptx.i64(bytes)); };
  t.qAddr = addr;
  t.kAddr = at(qElems * kSmemEltBytes);
  t.vAddr = at((qElems + kElems) * kSmemEltBytes);
  t.barriers = arith::TruncIOp::create(
      b, loc, b.getI32Type(), at((qElems + kElems + vElems) * kSmemEltBytes));
  return t;
}

Value SharedTiles::barrier(CodegenBuilder &cb, PtxBuilder &ptx, int64_t which,
                           Value stage) const {
  Value bank = cb.add(barriers, ptx.i32(which * 16));
  return cb.add(bank, cb.mul(ptx.toI32(stage), ptx.i32(8)));
}

SmallVector<Value> mlir::mha::smemIndex(CodegenBuilder &cb,
                                        const SmemTile &tile, Value stage,
                                        Value row, Value col) {
  if (!tile.swizzled)
    return {stage, row, col};
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
  // Element offset of the 16-byte chunk: atom, row, swizzled chunk.
  Value atom = cb.divUI(col, cb.index(64));
  Value chunk =
      cb.divUI(arith::RemUIOp::create(b, loc, col, cb.index(64)), cb.index(8));
  Value swizzled = arith::XOrIOp::create(
      b, loc, chunk, arith::RemUIOp::create(b, loc, row, cb.index(8)));
  Value offset =
      cb.add(cb.index(tile.offset), cb.mul(stage, cb.index(tile.stageElems)));
  offset = cb.add(offset, cb.mul(atom, cb.index(tile.rows * 64)));
  offset = cb.add(offset, cb.mul(row, cb.index(64)));
  return {cb.add(offset, cb.mul(swizzled, cb.index(8)))};
}

Value mlir::mha::atomAddress(CodegenBuilder &cb, PtxBuilder &ptx, Value base,
                             int64_t stageBytes, int64_t rowsPerAtom,
                             Value stage, int64_t atom) {
  Value offset = cb.add(cb.mul(stage, cb.index(stageBytes)),
                        cb.index(atom * rowsPerAtom * 128));
  OpBuilder &b = cb.builder();
  return arith::TruncIOp::create(b, cb.getLoc(), b.getI32Type(),
                                 cb.add(base, ptx.toI64(offset)));
}

void RowCopier::forEachChunk(int64_t numRows, int64_t width,
                             function_ref<void(Value, Value)> copyChunk) {
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
  int64_t chunksPerRow = width / 8; // 8 x 16 bits = 16 bytes
  int64_t chunks = numRows * chunksPerRow;
  int64_t threads = cfg.warps * kWarpSize;
  bool rowAligned = threads % chunksPerRow == 0;
  Value threadRow = cb.divUI(tid, cb.index(chunksPerRow));
  Value threadCol = cb.mul(
      arith::RemUIOp::create(b, loc, tid, cb.index(chunksPerRow)), cb.index(8));
  for (int64_t base = 0; base < chunks; base += threads) {
    auto chunk = [&]() {
      if (rowAligned)
        return copyChunk(cb.add(threadRow, cb.index(base / chunksPerRow)),
                         threadCol);
      Value index = cb.add(tid, cb.index(base));
      copyChunk(
          cb.divUI(index, cb.index(chunksPerRow)),
          cb.mul(arith::RemUIOp::create(b, loc, index, cb.index(chunksPerRow)),
                 cb.index(8)));
    };
    if (base + threads <= chunks) {
      chunk();
      continue;
    }
    // The last round: only the threads that have a chunk.
    cb.ifThen(cb.lt(cb.add(tid, cb.index(base)), cb.index(chunks)), chunk);
  }
}

void RowCopier::copyChunk(Value src, ValueRange srcIdx, Value inBounds,
                          Value dst, ValueRange dstIdx) {
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
  auto srcType = cast<MemRefType>(src.getType());
  if (srcType.getElementType() != cfg.elementType || !cfg.alignedRows)
    return stageConverted(src, srcIdx, inBounds, dst, dstIdx);
  Value srcElements = cb.select(inBounds, cb.index(8), cb.index(0));
  nvgpu::DeviceAsyncCopyOp::create(
      b, loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()), dst, dstIdx,
      src, srcIdx, b.getIndexAttr(8), srcElements, b.getUnitAttr());
}

void RowCopier::copyRows(Value src, ValueRange srcPrefix, Value srcRow0,
                         Value srcRows, const SmemTile &dst, Value stage,
                         int64_t numRows, int64_t width, int64_t dstRow0) {
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
  // The tile as a [rows, width] view with one base address, so that a
  // thread's chunks differ by constant row steps (few live registers
  // across the key loop). Its first row is always in bounds.
  Value avail = cb.minSI(cb.sub(srcRows, srcRow0), cb.index(numRows));
  SmallVector<OpFoldResult> offsets(srcPrefix.begin(), srcPrefix.end());
  offsets.append({srcRow0, b.getIndexAttr(0)});
  SmallVector<OpFoldResult> sizes(srcPrefix.size(), b.getIndexAttr(1));
  sizes.append({avail, b.getIndexAttr(width)});
  SmallVector<OpFoldResult> strides(offsets.size(), b.getIndexAttr(1));
  auto srcType = cast<MemRefType>(src.getType());
  auto tileType =
      cast<MemRefType>(memref::SubViewOp::inferRankReducedResultType(
          {ShapedType::kDynamic, width}, srcType, offsets, sizes, strides));
  Value tile =
      memref::SubViewOp::create(b, loc, tileType, src, offsets, sizes, strides);
  forEachChunk(numRows, width, [&](Value row, Value col) {
    // Rows past the end are zero-filled (source size 0), read from the
    // tile's first row, which is valid.
    Value inBounds = cb.lt(row, avail);
    Value srcRow = cb.select(inBounds, row, cb.index(0));
    Value dstRow = dstRow0 ? cb.add(row, cb.index(dstRow0)) : row;
    copyChunk(tile, ValueRange{srcRow, col}, inBounds, dst.mem,
              smemIndex(cb, dst, stage, dstRow, col));
  });
}

void RowCopier::copyPagedRows(ArrayRef<Value> pools, Value table, Value batch,
                              Value kvHead, Value keyRow0, Value keyRows,
                              ArrayRef<SmemTile> dsts, Value stage,
                              int64_t numRows) {
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
  Value zero = cb.index(0);
  Value pool = pools.front();
  Value pages = memref::DimOp::create(b, loc, pool, 0);
  // A static page size makes the page and slot of a key a shift and a mask
  // for powers of two.
  int64_t staticPageSize = cast<MemRefType>(pool.getType()).getDimSize(2);
  Value pageSize = ShapedType::isDynamic(staticPageSize)
                       ? Value(memref::DimOp::create(b, loc, pool, 2))
                       : cb.index(staticPageSize);
  Value lastPage = cb.maxSI(cb.sub(pages, cb.index(1)), zero);
  // No key can be read from a pool without pages.
  Value avail =
      cb.select(cb.gt(pages, zero),
                cb.minSI(cb.sub(keyRows, keyRow0), cb.index(numRows)), zero);
  auto widthOf = [](Value p) {
    return cast<MemRefType>(p.getType()).getDimSize(3);
  };
  // Copies chunk (row, col) of pools[first, last): keys past the end are
  // zero-filled, read from the tile's first key (valid when any key is).
  auto copyPools = [&](size_t first, size_t last) {
    forEachChunk(numRows, widthOf(pools[first]), [&](Value row, Value col) {
      Value inBounds = cb.lt(row, avail);
      Value key = cb.add(keyRow0, cb.select(inBounds, row, zero));
      Value entry = memref::LoadOp::create(
          b, loc, table, ValueRange{batch, cb.divUI(key, pageSize)});
      Value page = arith::IndexCastOp::create(b, loc, b.getIndexType(), entry)
                       .getResult();
      page = cb.minSI(cb.maxSI(page, zero), lastPage);
      Value slot = arith::RemUIOp::create(b, loc, key, pageSize);
      for (size_t i = first; i < last; ++i)
        copyChunk(pools[i], ValueRange{page, kvHead, slot, col}, inBounds,
                  dsts[i].mem, smemIndex(cb, dsts[i], stage, row, col));
    });
  };
  // Pools of one width share each key's table entry.
  if (llvm::all_of(pools, [&](Value p) { return widthOf(p) == widthOf(pool); }))
    return copyPools(0, pools.size());
  for (size_t i = 0; i < pools.size(); ++i)
    copyPools(i, i + 1);
}

void RowCopier::stageConverted(Value src, ValueRange srcIdx, Value inBounds,
                               Value dst, ValueRange dstIdx) {
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
  Type elt = cfg.elementType;
  Type srcElt = cast<MemRefType>(src.getType()).getElementType();
  auto wide = VectorType::get({8}, srcElt);
  auto narrow = VectorType::get({8}, elt);
  // Aligned rows are read as 16-byte vectors, others by element.
  llvm::Align align(cfg.alignedRows ? 16 : srcElt.getIntOrFloatBitWidth() / 8);
  auto load = scf::IfOp::create(b, loc, TypeRange{narrow}, inBounds,
                                /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(load.thenBlock());
    Value v = vector::LoadOp::create(b, loc, wide, src, srcIdx,
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

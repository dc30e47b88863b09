//===- HeadParams.cpp - Per-head parameter tables -------------------------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Codegen/HeadParams.h"

#include "mha/Semantics/Philox.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/SymbolTable.h"

#include "llvm/ADT/STLExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::mha;

Value ConstantTables::f32(StringRef name, ArrayRef<float> values, Value h) {
  if (llvm::all_equal(values))
    return cb.f32(values.front());
  Type elt = cb.builder().getF32Type();
  auto type = RankedTensorType::get({(int64_t)values.size()}, elt);
  return load(name, DenseElementsAttr::get(type, values), h);
}

Value ConstantTables::index(StringRef name, ArrayRef<int64_t> values, Value h) {
  if (llvm::all_equal(values))
    return cb.index(values.front());
  Type elt = cb.builder().getIndexType();
  auto type = RankedTensorType::get({(int64_t)values.size()}, elt);
  return load(name, DenseElementsAttr::get(type, values), h);
}

Value ConstantTables::boolean(StringRef name, ArrayRef<bool> values, Value h) {
  if (llvm::all_equal(values))
    return cb.boolean(values.front());
  Type elt = cb.builder().getI1Type();
  auto type = RankedTensorType::get({(int64_t)values.size()}, elt);
  return load(name, DenseElementsAttr::get(type, values), h);
}

/// The constant table `symbol` of `values` in `symbolTable` (created on
/// first use), as a memref.
static Value getConstantTable(CodegenBuilder &cb, Operation *symbolTable,
                              StringRef symbol, DenseElementsAttr values) {
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
  auto memrefType =
      MemRefType::get({values.getNumElements()}, values.getElementType());
  if (!SymbolTable::lookupSymbolIn(symbolTable, symbol)) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&symbolTable->getRegion(0).front());
    memref::GlobalOp::create(b, loc, symbol, b.getStringAttr("private"),
                             memrefType, values, /*constant=*/true,
                             /*alignment=*/IntegerAttr());
  }
  return memref::GetGlobalOp::create(b, loc, memrefType, symbol);
}

Value ConstantTables::load(StringRef name, DenseElementsAttr values, Value h) {
  Value table =
      getConstantTable(cb, symbolTable, prefix + "__" + name.str(), values);
  return memref::LoadOp::create(cb.builder(), cb.getLoc(), table,
                                ValueRange{h});
}

Value mlir::mha::getRopeFrequencies(CodegenBuilder &cb, Operation *symbolTable,
                                    StringRef prefix, double theta,
                                    int64_t ropeDim) {
  SmallVector<double> freqs;
  for (int64_t t = 0; t < ropeDim / 2; ++t)
    freqs.push_back(std::pow(theta, -2.0 * double(t) / double(ropeDim)));
  auto type = RankedTensorType::get({ropeDim / 2}, cb.builder().getF64Type());
  return getConstantTable(
      cb, symbolTable, (prefix + "__rope_freqs").str(),
      DenseElementsAttr::get(type, ArrayRef<double>(freqs)));
}

HeadParams mlir::mha::emitHeadParams(CodegenBuilder &cb, Operation *symbolTable,
                                     StringRef prefix,
                                     const AttentionVariant &variant,
                                     Value head) {
  ConstantTables tables(cb, symbolTable, prefix);
  SmallVector<float> scales;
  for (int64_t h = 0; h < variant.numQueryHeads; ++h)
    scales.push_back(variant.scale / variant.temperature(h));
  HeadParams p;
  p.scoreScale = tables.f32("score_scale", scales, head);
  p.alibiSlope = tables.f32("alibi_slopes", variant.getAlibiSlopes(), head);
  p.windowLeft = tables.index("window_left", variant.getWindowLefts(), head);
  p.windowRight = tables.index("window_right", variant.getWindowRights(), head);
  p.sinks = cb.index(variant.sinkTokens);
  p.staticAlive = tables.boolean("head_mask", variant.getHeadAlive(), head);
  if (variant.hasDropout) {
    SmallVector<int64_t> thresholds;
    SmallVector<float> keepScales;
    for (float rate : variant.getDropoutRates()) {
      thresholds.push_back(int64_t(dropoutThreshold(rate)));
      keepScales.push_back(1.0f / (1.0f - rate));
    }
    OpBuilder &b = cb.builder();
    p.dropoutThreshold = cb.indexCast(
        b.getI32Type(), tables.index("dropout_threshold", thresholds, head));
    p.dropoutKeepScale = tables.f32("dropout_keep_scale", keepScales, head);
  }
  return p;
}

Value mlir::mha::alibiOrigin(CodegenBuilder &cb, Value diag, bool causal) {
  return causal ? diag : cb.maxSI(diag, cb.index(0));
}

Value mlir::mha::alibiRowBias(CodegenBuilder &cb, Value slope, Value diag) {
  OpBuilder &b = cb.builder();
  Value negDist = cb.indexCast(b.getI64Type(), cb.minSI(diag, cb.index(0)));
  return cb.fmul(
      slope, arith::SIToFPOp::create(b, cb.getLoc(), b.getF32Type(), negDist));
}

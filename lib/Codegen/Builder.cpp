//===- Builder.cpp - The builder facade of mha's code generators ----------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Codegen/Builder.h"

using namespace mlir;
using namespace mlir::mha;

scf::ForOp CodegenBuilder::forLoopCarrying(
    Value n, ValueRange init,
    function_ref<SmallVector<Value>(Value, ValueRange)> body) {
  Value zero = index(0);
  Value one = index(1);
  auto loop = scf::ForOp::create(b, loc, zero, n, one, init);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  SmallVector<Value> results =
      body(loop.getInductionVar(), loop.getRegionIterArgs());
  scf::YieldOp::create(b, loc, results);
  return loop;
}

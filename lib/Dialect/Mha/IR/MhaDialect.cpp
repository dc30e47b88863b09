//===- MhaDialect.cpp - The mha dialect ---------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Dialect/Mha/IR/MhaDialect.h"
#include "mha/Dialect/Mha/IR/MhaAttrs.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::mha;

#include "mha/Dialect/Mha/IR/MhaDialect.cpp.inc"
#include "mha/Dialect/Mha/IR/MhaEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "mha/Dialect/Mha/IR/MhaAttrs.cpp.inc"

void MhaDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "mha/Dialect/Mha/IR/MhaAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "mha/Dialect/Mha/IR/MhaOps.cpp.inc"
      >();
}

//===- MhaAttrs.h - Attributes of the mha dialect ---------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_DIALECT_MHA_IR_MHAATTRS_H
#define MHA_DIALECT_MHA_IR_MHAATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"

#include "mha/Dialect/Mha/IR/MhaEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "mha/Dialect/Mha/IR/MhaAttrs.h.inc"

#endif // MHA_DIALECT_MHA_IR_MHAATTRS_H

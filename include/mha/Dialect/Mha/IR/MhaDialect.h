//===- MhaDialect.h - The mha dialect ---------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_DIALECT_MHA_IR_MHADIALECT_H
#define MHA_DIALECT_MHA_IR_MHADIALECT_H

#include "mlir/IR/Dialect.h"

#include "mha/Dialect/Mha/IR/MhaDialect.h.inc"

#endif // MHA_DIALECT_MHA_IR_MHADIALECT_H

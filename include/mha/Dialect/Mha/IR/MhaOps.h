//===- MhaOps.h - Operations of the mha dialect -------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_DIALECT_MHA_IR_MHAOPS_H
#define MHA_DIALECT_MHA_IR_MHAOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "mha/Dialect/Mha/IR/MhaAttrs.h"
#include "mha/Dialect/Mha/IR/MhaDialect.h"

#define GET_OP_CLASSES
#include "mha/Dialect/Mha/IR/MhaOps.h.inc"

#endif // MHA_DIALECT_MHA_IR_MHAOPS_H

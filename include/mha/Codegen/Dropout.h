//===- Dropout.h - Emitting the dropout keep rule ---------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The keep rule of head-specific dropout (mha/Semantics/Philox.h,
// docs/language.md 6.7) as arith ops, op for op the C++ definition the
// float64 reference uses, on i32 scalars or vectors of i32 key positions:
// a kernel draws exactly the reference's bits. CPU work items and their
// backward use it; the same ops lower for any target.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_CODEGEN_DROPOUT_H
#define MHA_CODEGEN_DROPOUT_H

#include "mha/Codegen/Builder.h"

namespace mlir::mha {

/// The i32 words that do not depend on the key: the Philox key (the seed's
/// two halves) and the counter words of the query row.
struct DropoutStream {
  Value seedLo, seedHi; // key = (seed mod 2^32, seed div 2^32)
  Value row;            // counter word 1: the query's position i
  Value stream;         // counter word 2: b * Hq + h
  Value offset;         // counter word 3: dropout_offset mod 2^32
};

/// Philox output word `j mod 4` of counter (j div 4, row, stream, offset)
/// for key positions `keys` (i32 or vector of i32); the result has their
/// type.
Value emitDropoutWord(CodegenBuilder &cb, const DropoutStream &stream,
                      Value keys);

/// Whether dropout keeps `keys`: word >= threshold, unsigned (an i1 or a
/// vector of i1). `threshold` is the head's i32 floor(p * 2^32).
Value emitDropoutKeeps(CodegenBuilder &cb, const DropoutStream &stream,
                       Value keys, Value threshold);

} // namespace mlir::mha

#endif // MHA_CODEGEN_DROPOUT_H

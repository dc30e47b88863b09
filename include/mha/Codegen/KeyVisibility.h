//===- KeyVisibility.h - The masks as IR ------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The rule of mha/Semantics/KeyVisibility.h at the three levels the kernels
// use it:
//  - per key (getKeyBounds + isKeyInBounds on a CodegenBuilder): index
//    scalars in the GPU's score loop, i32 lanes in the CPU's softmax;
//  - per block of rows: the key ranges a block can see at all (tiles
//    outside them are never visited: a windowed head costs its window);
//  - per key tile: whether some row of the block needs the per-key mask.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_CODEGEN_KEYVISIBILITY_H
#define MHA_CODEGEN_KEYVISIBILITY_H

#include "mha/Codegen/Builder.h"
#include "mha/Dialect/Mha/IR/AttentionVariant.h"
#include "mha/Semantics/KeyVisibility.h"

namespace mlir::mha {

/// The keys query rows [row0, row0 + rows) of one head may see, as two
/// ranges: the sink keys [0, sinkHi) and the window [windowLo, windowHi).
/// Every visible key is in one of them (they do not overlap); tiles outside
/// both are never visited.
struct KeyRanges {
  Value pFirst, pLast; // Diagonal keys (i + Lk - Lq) of the first/last row.
  Value sinkHi;        // Sink keys visible to some row: [0, sinkHi).
  Value windowLo, windowHi;
  Value leftBounded, rightBounded; // window_left / window_right >= 0 (i1).
};

KeyRanges computeKeyRanges(CodegenBuilder &cb, const MaskParams<Value> &masks,
                           Value row0, Value rows, Value queryLen,
                           Value keyLen);
/// The same for rows whose diagonal key is i + `diagOffset` (explicit
/// positions: query_start - key_start; the default is Lk - Lq).
KeyRanges computeKeyRangesAt(CodegenBuilder &cb, const MaskParams<Value> &masks,
                             Value row0, Value rows, Value diagOffset,
                             Value keyLen);

/// A call's positions (mha_options.use_positions, read from its call words,
/// mha/Runtime/KernelAbi.h): row i's diagonal key is i + diagOffset (Lk - Lq
/// by default, query_start - key_start with explicit positions), query row
/// i and key j are at positions queryStart + i and keyStart + j (0 and 0 by
/// default), and the sinks end at sink_tokens - keyStart in the call's keys.
struct CallPositions {
  Value diagOffset, queryStart, keyStart;
};
CallPositions readCallPositions(CodegenBuilder &cb, Value callWords,
                                Value queryLen, Value keyLen);

/// Whether a key tile [j0, j1) of the window range needs the per-key mask
/// for some row of the block (the causal diagonal or a window edge crosses
/// it); tiles that need none run the unmasked step.
Value windowTileNeedsMask(CodegenBuilder &cb, const MaskParams<Value> &masks,
                          const KeyRanges &ranges, Value j0, Value j1);

/// Whether a tile [j0, j1) of the sink range needs the mask (only the
/// causal diagonal can hide sink keys).
Value sinkTileNeedsMask(CodegenBuilder &cb, const MaskParams<Value> &masks,
                        const KeyRanges &ranges, Value j1);

} // namespace mlir::mha

#endif // MHA_CODEGEN_KEYVISIBILITY_H

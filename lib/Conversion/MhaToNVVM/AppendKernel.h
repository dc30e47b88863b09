//===- AppendKernel.h - mha.append_kv on the GPU ----------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Private to lib/Conversion/MhaToNVVM: the kernel of an exported
// mha.append_kv function, which writes new keys (rotated by RoPE when
// asked) and values into the caller's caches in place.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_CONVERSION_MHATONVVM_APPENDKERNEL_H
#define MHA_LIB_CONVERSION_MHATONVVM_APPENDKERNEL_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

#include <optional>

namespace mlir::mha {

/// New keys per block of the append kernel: one warp each.
inline constexpr int64_t kAppendRowsPerBlock = 4;

/// The append kernel's memrefs: new keys and values [S, Hkv, Lnew, D|Dv]
/// (or packed [1, Hkv, total, D|Dv] with cuSeqlensQ [S + 1]), kv_lens [S],
/// q_lens [S] (or null: every new row is appended), the block table [S,
/// max_pages] (or null: contiguous caches [S, Hkv, Lk, ...]) and the
/// caches (page pools [pages, Hkv, page_size, ...] with a table).
struct AppendKernelArgs {
  Value kNew, vNew, kvLens, qLens, blockTable, cuSeqlensQ, kCache, vCache;
};

/// Fills the (empty) body of `func`: on the grid (ceil(Lnew / 4), Hkv, S),
/// warp w of block x writes new key t = 4 x + w of KV head y of sequence z
/// at position kv_lens[z] + t (packed: row t of batch 0, of the sequence
/// whose offsets hold it, at kv_lens[s] + t - cu[s]; the grid's z is 1).
/// Nothing the lengths and the table hold makes
/// it write outside the caches: a key past q_lens, past the cache's
/// capacity, at a negative kv_lens or on a page that is not in the pool is
/// not written. RoPE angles are p * rope_theta^(-2i/D) in f64 (constant
/// frequencies named after `prefix`), reduced to [-pi, pi] in f64, then
/// cos and sin by the f32 approximations.
void emitAppendKernel(OpBuilder &b, Location loc, gpu::GPUModuleOp module,
                      gpu::GPUFuncOp func, StringRef prefix,
                      std::optional<double> ropeTheta,
                      const AppendKernelArgs &args);

} // namespace mlir::mha

#endif // MHA_LIB_CONVERSION_MHATONVVM_APPENDKERNEL_H

//===- SpecProblem.h - Concrete problems of a spec's attention --*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// From an `mha.attention` of a spec to what a caller of its generated
// function needs: concrete tensor shapes (dynamic B and L filled in), the
// element type, the float64 reference problem (AttentionReference.h) and a
// one-line description of the variant. Shared by mha-run, mha-analyze and
// their test helpers.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_ANALYSIS_SPECPROBLEM_H
#define MHA_ANALYSIS_SPECPROBLEM_H

#include "mha/Analysis/HostTensor.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/Reference/AttentionReference.h"
#include "mha/Reference/LayerReference.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/ADT/DenseMap.h"

#include <optional>
#include <random>
#include <string>
#include <vector>

namespace mlir::mha::analysis {

/// Concrete shapes of q [B,Hq,Lq,D], k [B,Hkv,Lk,D] and v [B,Hkv,Lk,Dv].
struct AttentionShapes {
  std::vector<int64_t> query, key, value;
};

/// The spec's static sizes, with dynamic B taken as `batch` and dynamic
/// lengths as `seqLen` (v's length follows k's).
AttentionShapes getConcreteShapes(AttentionOp op, int64_t batch,
                                  int64_t seqLen);

/// The reference problem of `op` at the given shapes.
reference::AttentionProblem getReferenceProblem(AttentionOp op,
                                                const AttentionShapes &shapes);

/// The reference problem of a layer with dynamic B and L taken as `batch`
/// and `seqLen`.
reference::LayerProblem getLayerProblem(MultiHeadOp op, int64_t batch,
                                        int64_t seqLen);

/// The tensors of `op` in their slots of `tensors`: function arguments from
/// `argValues`, dense constants of the spec (compiled into its library, not
/// parameters) and low-rank weights (mha.low_rank) as the product of their
/// factors.
void getLayerTensors(
    MultiHeadOp op, const llvm::DenseMap<Value, std::vector<double>> &argValues,
    reference::LayerTensors &tensors);

/// Concrete shape of an operand of `op` (x with B and L filled in).
std::vector<int64_t> getConcreteLayerShape(Value operand, int64_t batch,
                                           int64_t seqLen);

/// Seeded random arguments of a layer function, as mha-run and mha-analyze
/// draw them: x and biases N(0, 1), weights (and low-rank factors)
/// N(0, 1/rows) so that every projection is about N(0, 1), the values of
/// quantized weights uniform (int8 in [-127, 127], int4 bytes) with scales
/// that give them the same spread. Each tensor has its argument's element
/// type; `values` gets what each holds, in f64.
std::vector<HostTensor>
drawLayerArguments(func::FuncOp func, MultiHeadOp op, int64_t batch,
                   int64_t seqLen, std::mt19937 &rng,
                   llvm::DenseMap<Value, std::vector<double>> &values);

/// "MHA shared causal rope bias".
std::string describeLayer(MultiHeadOp op);

/// The element kind of a spec's f32/f16/bf16 type, if it is one of them.
std::optional<ElementKind> getElementKind(Type type);

/// A short description of the variant: "GQA causal windows sinks".
std::string describeVariant(AttentionOp op);

/// The C parameter name of a function argument of `op` ("q", "k" or "v"),
/// by the role the generated library gives it.
std::string getArgumentName(AttentionOp op, Value argument);
/// The C parameter name of a function argument of the layer `op` ("x",
/// "wq", ..., "bo").
std::string getArgumentName(MultiHeadOp op, Value argument);

} // namespace mlir::mha::analysis

#endif // MHA_ANALYSIS_SPECPROBLEM_H

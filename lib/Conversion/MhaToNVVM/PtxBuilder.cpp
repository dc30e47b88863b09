//===- PtxBuilder.cpp - PTX and NVVM instructions of the kernels ----------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "PtxBuilder.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include "llvm/ADT/StringExtras.h"

using namespace mlir;
using namespace mlir::mha;

void WarpLanes::computeLanes(CodegenBuilder &cb, Value tid) {
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
  auto rem = [&](Value x, int64_t n) -> Value {
    return arith::RemUIOp::create(b, loc, x, cb.index(n));
  };
  lane = rem(tid, kWarpSize);
  warp = cb.divUI(tid, cb.index(kWarpSize));
  groupId = cb.divUI(lane, cb.index(4));
  threadInGroup = rem(lane, 4);
  laneRow8 = rem(lane, 8);
  laneOct = cb.divUI(lane, cb.index(8));
  laneRow16 = rem(lane, 16);
  laneHalf = cb.divUI(lane, cb.index(16));
}

PtxBuilder::PtxBuilder(CodegenBuilder &cb, Type elementType)
    : cb(cb), b(cb.builder()), loc(cb.getLoc()), elt(elementType) {
  f32Type = b.getF32Type();
  i32Type = b.getI32Type();
}

//===----------------------------------------------------------------------===//
// Float intrinsics and shuffles
//===----------------------------------------------------------------------===//

static Value callIntrinsic(OpBuilder &b, Location loc, Type type,
                           StringRef name, ValueRange operands,
                           LLVM::FastmathFlags flags = {}) {
  auto fastmath = flags == LLVM::FastmathFlags{}
                      ? LLVM::FastmathFlagsAttr()
                      : LLVM::FastmathFlagsAttr::get(b.getContext(), flags);
  if (!fastmath)
    return LLVM::CallIntrinsicOp::create(b, loc, type, b.getStringAttr(name),
                                         operands)
        .getResult(0);
  return LLVM::CallIntrinsicOp::create(b, loc, type, b.getStringAttr(name),
                                       operands, fastmath)
      .getResult(0);
}

Value PtxBuilder::fmax(Value x, Value y) {
  return callIntrinsic(b, loc, f32Type, "llvm.maxnum.f32", {x, y});
}

Value PtxBuilder::exp2(Value x) {
  return callIntrinsic(b, loc, f32Type, "llvm.nvvm.ex2.approx.ftz.f32", x);
}

Value PtxBuilder::log2(Value x) {
  return callIntrinsic(b, loc, f32Type, "llvm.nvvm.lg2.approx.ftz.f", x);
}

Value PtxBuilder::sin(Value x) {
  return callIntrinsic(b, loc, f32Type, "llvm.nvvm.sin.approx.f", x);
}

Value PtxBuilder::cos(Value x) {
  return callIntrinsic(b, loc, f32Type, "llvm.nvvm.cos.approx.f", x);
}

Value PtxBuilder::roundEven64(Value x) {
  return callIntrinsic(b, loc, b.getF64Type(), "llvm.rint.f64", x);
}

Value PtxBuilder::tanh(Value x) {
  return callIntrinsic(b, loc, f32Type, "llvm.tanh.f32", x,
                       LLVM::FastmathFlags::afn);
}

Value PtxBuilder::quadReduce(Value x, bool isMax) {
  for (int32_t offset : {1, 2}) {
    Value other = gpu::ShuffleOp::create(b, loc, x, offset, kWarpSize,
                                         gpu::ShuffleMode::XOR)
                      .getShuffleResult();
    x = isMax ? fmax(x, other) : cb.fadd(x, other);
  }
  return x;
}

//===----------------------------------------------------------------------===//
// mma.sync, ldmatrix, cp.async
//===----------------------------------------------------------------------===//

Value PtxBuilder::asOperand(Value pairValue) {
  if (elt.isBF16())
    return LLVM::BitcastOp::create(b, loc, i32Type, pairValue);
  return pairValue;
}

SmallVector<Value> PtxBuilder::ldmatrix(Value smem, ValueRange indices,
                                        int64_t tiles, bool transpose) {
  auto type = VectorType::get({tiles, 2}, elt);
  Value loaded = nvgpu::LdMatrixOp::create(b, loc, type, smem, indices,
                                           transpose, (uint32_t)tiles);
  SmallVector<Value> regs;
  for (int64_t i = 0; i < tiles; ++i)
    regs.push_back(asOperand(
        vector::ExtractOp::create(b, loc, loaded, ArrayRef<int64_t>{i})));
  return regs;
}

Frag PtxBuilder::mma(ArrayRef<Value> a, ArrayRef<Value> bRegs, const Frag &c) {
  auto resultType = LLVM::LLVMStructType::getLiteral(
      b.getContext(), {f32Type, f32Type, f32Type, f32Type});
  NVVM::MMATypes type =
      elt.isBF16() ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
  Value d = NVVM::MmaOp::create(
      b, loc, resultType, a, bRegs, ValueRange(c), ArrayRef<int64_t>{16, 8, 16},
      /*b1Op=*/std::nullopt, /*intOverflow=*/std::nullopt,
      std::array<NVVM::MMATypes, 2>{type, type},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  Frag out;
  for (int64_t i = 0; i < 4; ++i)
    out[i] = LLVM::ExtractValueOp::create(b, loc, d, ArrayRef<int64_t>{i});
  return out;
}

void PtxBuilder::waitAsyncCopies(bool fenceAsyncProxy) {
  auto tokenType = nvgpu::DeviceAsyncTokenType::get(b.getContext());
  Value group =
      nvgpu::DeviceAsyncCreateGroupOp::create(b, loc, tokenType, ValueRange{});
  nvgpu::DeviceAsyncWaitOp::create(b, loc, group, b.getI32IntegerAttr(0));
  if (fenceAsyncProxy)
    NVVM::FenceProxyOp::create(
        b, loc, NVVM::ProxyKind::async_shared,
        NVVM::SharedSpaceAttr::get(b.getContext(),
                                   NVVM::SharedSpace::shared_cta));
}

//===----------------------------------------------------------------------===//
// Warpgroup MMA
//===----------------------------------------------------------------------===//

Value PtxBuilder::wgmmaDescriptor(Value addr, int64_t lbo, int64_t sbo) {
  // Bits 0-13: address / 16 (shared addresses stay below 256 KiB), 16-29:
  // leading byte offset / 16, 32-45: stride byte offset / 16, 62-63: 1 =
  // 128-byte swizzle; base offset 0 (atoms are 1024-byte aligned).
  uint64_t fixed = (uint64_t(lbo >> 4) << 16) | (uint64_t(sbo >> 4) << 32) |
                   (uint64_t(1) << 62);
  Value field = arith::ShRUIOp::create(b, loc, addr, i64(4));
  return cb.orI(field, i64(static_cast<int64_t>(fixed)));
}

SmallVector<Value> PtxBuilder::warpgroupMma(ArrayRef<Value> acc,
                                            ArrayRef<Value> aDescs,
                                            ArrayRef<SmallVector<Value>> aRegs,
                                            ArrayRef<Value> bDescs,
                                            bool transposeB) {
  int64_t m = acc.size(), steps = bDescs.size();
  StringRef type = elt.isBF16() ? "bf16" : "f16";
  std::string text;
  llvm::raw_string_ostream os(text);
  SmallVector<Value> operands;
  SmallVector<std::string> constraints(m, "=f");
  auto operand = [&](Value v, StringRef constraint) {
    operands.push_back(v);
    constraints.push_back(constraint.str());
    return "$" + std::to_string(m + operands.size() - 1);
  };
  std::string scaleD = operand(i32(1), "r");
  os << "{\n.reg .pred p;\nsetp.ne.b32 p, " << scaleD << ", 0;\n"
     << "wgmma.fence.sync.aligned;\n";
  std::string accList = "{";
  for (int64_t i = 0; i < m; ++i)
    accList += (i ? ", $" : "$") + std::to_string(i);
  accList += "}";
  for (int64_t k = 0; k < steps; ++k) {
    os << "wgmma.mma_async.sync.aligned.m64n" << 2 * m << "k16.f32." << type
       << "." << type << " " << accList << ", ";
    if (aRegs.empty()) {
      os << operand(aDescs[k], "l");
    } else {
      os << "{";
      for (auto [i, r] : llvm::enumerate(aRegs[k]))
        os << (i ? ", " : "") << operand(r, "r");
      os << "}";
    }
    os << ", " << operand(bDescs[k], "l") << ", p, 1, 1";
    if (aRegs.empty())
      os << ", 0"; // A K-major
    os << ", " << (transposeB ? 1 : 0) << ";\n";
  }
  os << "wgmma.commit_group.sync.aligned;\n"
     << "wgmma.wait_group.sync.aligned 0;\n}";
  // The accumulators are read and written: tied inputs.
  for (int64_t i = 0; i < m; ++i) {
    operands.push_back(acc[i]);
    constraints.push_back(std::to_string(i));
  }
  auto resultType = LLVM::LLVMStructType::getLiteral(
      b.getContext(), SmallVector<Type>(m, f32Type));
  auto asmOp = LLVM::InlineAsmOp::create(
      b, loc, resultType, operands, text, llvm::join(constraints, ","),
      /*has_side_effects=*/true, /*is_align_stack=*/false,
      LLVM::TailCallKind::None,
      LLVM::AsmDialectAttr::get(b.getContext(), LLVM::AsmDialect::AD_ATT),
      /*operand_attrs=*/ArrayAttr());
  SmallVector<Value> out;
  for (int64_t i = 0; i < m; ++i)
    out.push_back(LLVM::ExtractValueOp::create(b, loc, asmOp.getResult(0),
                                               ArrayRef<int64_t>{i}));
  return out;
}

//===----------------------------------------------------------------------===//
// Inline PTX
//===----------------------------------------------------------------------===//

void PtxBuilder::ptx(StringRef text, StringRef constraints,
                     ValueRange operands) {
  LLVM::InlineAsmOp::create(
      b, loc, TypeRange{}, operands, text, constraints,
      /*has_side_effects=*/true, /*is_align_stack=*/false,
      LLVM::TailCallKind::None,
      LLVM::AsmDialectAttr::get(b.getContext(), LLVM::AsmDialect::AD_ATT),
      /*operand_attrs=*/ArrayAttr());
}

void PtxBuilder::mbarrierInit(Value bar, Value count) {
  ptx("mbarrier.init.shared::cta.b64 [$0], $1;", "r,r", {bar, count});
}

void PtxBuilder::fenceMbarrierInit() {
  ptx("fence.mbarrier_init.release.cluster;", "", {});
}

void PtxBuilder::mbarrierWait(Value bar, Value parity) {
  ptx("{\n.reg .pred done;\nmha_wait_${:uid}:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [$0], $1;\n"
      "@!done bra mha_wait_${:uid};\n}",
      "r,r", {bar, parity});
}

void PtxBuilder::mbarrierArrive(Value bar) {
  ptx("{\n.reg .b64 state;\nmbarrier.arrive.shared::cta.b64 state, "
      "[$0];\n}",
      "r", bar);
}

void PtxBuilder::mbarrierArriveExpectTx(Value bar, Value bytes) {
  ptx("{\n.reg .b64 state;\nmbarrier.arrive.expect_tx.shared::cta.b64 "
      "state, [$0], $1;\n}",
      "r,r", {bar, bytes});
}

void PtxBuilder::tmaLoad(Value dst, Value tensorMap, ArrayRef<Value> coords,
                         Value bar) {
  assert(coords.size() == 4 && "a 4-d box");
  Value map = LLVM::IntToPtrOp::create(
      b, loc, LLVM::LLVMPointerType::get(b.getContext()), tensorMap);
  SmallVector<Value> operands{dst, map};
  llvm::append_range(operands, coords);
  operands.push_back(bar);
  ptx("cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::"
      "complete_tx::bytes [$0], [$1, {$2, $3, $4, $5}], [$6];",
      "r,l,r,r,r,r,r", operands);
}

void PtxBuilder::setMaxRegisters(int64_t count, bool increase) {
  ptx(("setmaxnreg." + Twine(increase ? "inc" : "dec") + ".sync.aligned.u32 " +
       Twine(count) + ";")
          .str(),
      "", {});
}

//===----------------------------------------------------------------------===//
// Integers
//===----------------------------------------------------------------------===//

Value PtxBuilder::i32(int64_t v) {
  return arith::ConstantIntOp::create(b, loc, i32Type, v);
}

Value PtxBuilder::i64(int64_t v) {
  return arith::ConstantIntOp::create(b, loc, b.getI64Type(), v);
}

Value PtxBuilder::toI32(Value index) { return cb.indexCast(i32Type, index); }

Value PtxBuilder::toI64(Value index) {
  return cb.indexCast(b.getI64Type(), index);
}

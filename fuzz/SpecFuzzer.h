//===- SpecFuzzer.h - Shared driver of the spec fuzzers ---------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Parses a spec, verifies it, runs the whole CPU pipeline
// (mlir::mha::buildMhaCpuPipeline) and translates the result to LLVM IR, in
// one reused single-threaded MLIRContext whose diagnostics are swallowed.
//
// Oracle beyond "no crash, no sanitizer report": for a plain spec (only
// func.func definitions, each computing mha ops and returning), once the
// spec verifies and mha-tile (which owns every precondition of the CPU
// pipeline) accepts it, every later pass and the LLVM IR translation must
// succeed; a failure there (including the IR verifier failing after a pass)
// is a bug and aborts with the spec and its diagnostics.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_FUZZ_SPECFUZZER_H
#define MHA_FUZZ_SPECFUZZER_H

#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/InitAllDialects.h"
#include "mha/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassInstrumentation.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

namespace mha_fuzz {

/// Remembers the first pass that failed (or after which the IR did not
/// verify).
struct FailedPassRecorder : public mlir::PassInstrumentation {
  std::string *failedPass;
  explicit FailedPassRecorder(std::string *out) : failedPass(out) {}
  void runAfterPassFailed(mlir::Pass *pass, mlir::Operation *) override {
    if (failedPass->empty())
      *failedPass = pass->getArgument().empty() ? pass->getName().str()
                                                : pass->getArgument().str();
  }
};

class SpecFuzzer {
public:
  SpecFuzzer() {
    mlir::registerAllDialects(registry);
    mlir::registerAllExtensions(registry);
    mlir::mha::registerAllMhaDialects(registry);
    mlir::registerBuiltinDialectTranslation(registry);
    mlir::registerLLVMDialectTranslation(registry);
    reset();
  }

  /// Compiles `text`; aborts on an oracle failure.
  void run(llvm::StringRef text, int64_t rows = 16, int64_t cols = 64) {
    // Uniqued attributes and types accumulate in a context: start afresh now
    // and then so a long campaign stays within libFuzzer's RSS limit.
    if (++uses > 2000)
      reset();
    diagnostics.clear();
    mlir::ParserConfig config(context.get());
    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::parseSourceString<mlir::ModuleOp>(text, config);
    if (!module)
      return count(Rejected);
    bool plain = isPlainSpec(*module);
    if (hasOpenIssue(*module))
      return count(Skipped);

    mlir::PassManager pm(context.get());
    std::string failedPass;
    pm.addInstrumentation(std::make_unique<FailedPassRecorder>(&failedPass));
    mlir::mha::MhaCpuPipelineOptions options;
    options.rowsPerItem = rows;
    options.keysPerTile = cols;
    mlir::mha::buildMhaCpuPipeline(pm, options);
    if (mlir::failed(pm.run(*module))) {
      if (plain && failedPass != "mha-tile")
        report(text,
               ("the CPU pipeline failed in " + failedPass +
                " after mha-tile accepted the spec")
                   .c_str(),
               rows, cols);
      return count(Rejected);
    }
    llvm::LLVMContext llvmContext;
    std::unique_ptr<llvm::Module> llvmModule =
        mlir::translateModuleToLLVMIR(*module, llvmContext, "fuzz");
    if (!llvmModule && plain)
      report(text, "the LLVM IR translation failed", rows, cols);
    count(llvmModule ? Compiled : Rejected);
  }

private:
  /// MHA_FUZZ_STATS=1: how many inputs were rejected (parser, verifier or a
  /// pass precondition), skipped (open finding) or compiled to LLVM IR,
  /// printed at exit.
  enum Outcome { Rejected, Skipped, Compiled };
  static void count(Outcome outcome) {
    static bool enabled = getenv("MHA_FUZZ_STATS") != nullptr;
    static long counts[3];
    if (!enabled)
      return;
    static bool registered = [] {
      atexit([] {
        fprintf(stderr, "rejected %ld, skipped %ld, compiled %ld\n",
                counts[Rejected], counts[Skipped], counts[Compiled]);
      });
      return true;
    }();
    (void)registered;
    ++counts[outcome];
  }

  void reset() {
    handler.reset();
    context = std::make_unique<mlir::MLIRContext>(
        registry, mlir::MLIRContext::Threading::DISABLED);
    handler = std::make_unique<mlir::ScopedDiagnosticHandler>(
        context.get(), [this](mlir::Diagnostic &diag) {
          if (diagnostics.size() < 4096)
            diagnostics += diag.str() + "\n";
          return mlir::success();
        });
    uses = 0;
  }

  /// Only func.func definitions whose bodies are mha ops and a return, each
  /// with at least one mha op.
  static bool isPlainSpec(mlir::ModuleOp module) {
    for (mlir::Operation &op : module.getBody()->getOperations()) {
      auto func = llvm::dyn_cast<mlir::func::FuncOp>(op);
      if (!func || func.isDeclaration() || !func.getBody().hasOneBlock())
        return false;
      bool hasMha = false;
      for (mlir::Operation &inner : func.getBody().front()) {
        if (llvm::isa<mlir::mha::AttentionOp, mlir::mha::MultiHeadOp>(inner))
          hasMha = true;
        else if (!llvm::isa<mlir::func::ReturnOp>(inner))
          return false;
      }
      if (!hasMha)
        return false;
    }
    return true;
  }

  /// Findings reported to the owner of the code at fault and still open
  /// (docs/reliability.md, "Findings"): inputs that reach them are skipped
  /// so a campaign keeps looking for new ones; each gets an XFAIL
  /// regression test. None is open.
  static bool hasOpenIssue(mlir::ModuleOp) { return false; }

  [[noreturn]] void report(llvm::StringRef text, const char *what, int64_t rows,
                           int64_t cols) {
    fprintf(stderr,
            "mha-fuzz: %s (rows %lld, cols %lld)\n--- spec ---\n%.*s\n"
            "--- diagnostics ---\n%s\n",
            what, (long long)rows, (long long)cols, (int)text.size(),
            text.data(), diagnostics.c_str());
    abort();
  }

  mlir::DialectRegistry registry;
  std::unique_ptr<mlir::MLIRContext> context;
  std::unique_ptr<mlir::ScopedDiagnosticHandler> handler;
  std::string diagnostics;
  unsigned uses = 0;
};

} // namespace mha_fuzz

#endif // MHA_FUZZ_SPECFUZZER_H

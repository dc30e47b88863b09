//===- mha-lsp-server.cpp - MLIR language server with mha -------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// MLIR's language server with the mha dialect registered: an editor shows
// verifier diagnostics, hovers and go-to-definition on spec files.
//
//===----------------------------------------------------------------------===//

#include "mha/InitAllDialects.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Tools/mlir-lsp-server/MlirLspServerMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::mha::registerAllMhaDialects(registry);
  return mlir::failed(mlir::MlirLspServerMain(argc, argv, registry));
}

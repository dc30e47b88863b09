//===- mha-fuzz-spec.cpp - Fuzz spec text through the CPU pipeline --------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// libFuzzer target: the input bytes are MLIR source text; they are parsed,
// verified, compiled by the whole CPU pipeline to the LLVM dialect and
// translated to LLVM IR (see SpecFuzzer.h for the oracle). Seeds:
// fuzz/corpus/spec (examples/ and the lit tests' specs); a dictionary of
// spec tokens is fuzz/spec.dict.
//
//===----------------------------------------------------------------------===//

#include "SpecFuzzer.h"

// ASan defaults (ASAN_OPTIONS adds to them): our instrumented code inlines
// LLVM's BumpPtrAllocator, which poisons memory that the uninstrumented
// libMLIR.so then uses, so manual poisoning is off; leaks inside libMLIR.so
// are not ours.
extern "C" const char *__asan_default_options() {
  return "allow_user_poisoning=0:detect_leaks=0";
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mha_fuzz::SpecFuzzer *fuzzer = new mha_fuzz::SpecFuzzer();
  // MLIR's lexer reads the byte after the buffer (it expects the NUL that
  // every file buffer has, as mha-compile's does): give it one.
  std::string text(reinterpret_cast<const char *>(data), size);
  fuzzer->run(llvm::StringRef(text.c_str(), size));
  return 0;
}

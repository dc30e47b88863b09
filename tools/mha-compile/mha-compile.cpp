//===- mha-compile.cpp - Compile attention specs to libraries ---*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
//   mha-compile SPEC.mlir --target=cpu -o libmodel.so|libmodel.a|model.o
//
// Runs the CPU pipeline in-process, emits an object for the host CPU (or
// --cpu/--features), links the mha runtime into it and writes the C header
// (<stem>.h, or --header) with mha/runtime.h beside it, and with --manifest
// a JSON list of the exported functions' C parameters (for bindings).
//
//===----------------------------------------------------------------------===//

#include "mha/Codegen/EntryPoint.h"
#include "mha/Conversion/MhaToNVVM/MhaToNVVM.h"
#include "mha/Dialect/Mha/IR/AttentionVariant.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/InitAllDialects.h"
#include "mha/Pipelines/Pipelines.h"
#include "mha/Runtime/KernelAbi.h"
#include "mha/Target/CpuLibrary.h"
#include "mha/Target/DeviceDispatch.h"
#include "mha/Target/GpuLibrary.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"

#include <thread>

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory category("mha-compile options");
static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<spec.mlir>"),
                                      cl::Required, cl::cat(category));
static cl::opt<std::string>
    outputFile("o",
               cl::desc("Output: lib.so, lib.a, obj.o (or kernels.ptx "
                        "with --target=nvptx)"),
               cl::value_desc("file"), cl::Required, cl::cat(category));
static cl::opt<std::string>
    target("target",
           cl::desc("cpu (default), nvptx, or auto (one library with both, "
                    "each function dispatching on its first tensor's device)"),
           cl::init("cpu"), cl::cat(category));
static cl::opt<std::string>
    chip("chip",
         cl::desc("GPU chips for --target=nvptx, comma-separated (default "
                  "sm_80,sm_90a: PTX and, when ptxas is found, cubins for "
                  "each; the runtime picks by compute capability; sm_90a "
                  "adds warpgroup-MMA kernels for H100/H200)"),
         cl::cat(category));
static cl::opt<int64_t>
    gpuWarps("gpu-warps", cl::desc("--target=nvptx: warps per CTA (default 4)"),
             cl::init(4), cl::cat(category));
static cl::opt<int64_t> gpuRowTiles(
    "gpu-row-tiles",
    cl::desc("--target=nvptx: 16-row MMA tiles per warp, 1 or 2 (default: "
             "2 for head dims <= 128, else 1)"),
    cl::init(0), cl::cat(category));
static cl::opt<int64_t> gpuSm90aCols(
    "gpu-sm90a-cols",
    cl::desc("--target=nvptx: keys per K/V tile of the sm_90a kernels "
             "(multiple of 16, at most 256; default: chosen by head dim)"),
    cl::init(0), cl::cat(category));
static cl::opt<int64_t> gpuSm90aWarpgroups(
    "gpu-sm90a-warpgroups",
    cl::desc("--target=nvptx: warpgroups (64 query rows each) per CTA of "
             "the sm_90a kernels, 1 to 4 (default: 2 for head dims <= 128, "
             "else 1)"),
    cl::init(0), cl::cat(category));
static cl::opt<bool> gpuPackGqa(
    "gpu-pack-gqa",
    cl::desc("--target=nvptx: one block computes the query heads of a KV "
             "group with equal windows (default on)"),
    cl::init(true), cl::cat(category));
static cl::opt<bool>
    noCubin("no-cubin",
            cl::desc("--target=nvptx: embed PTX only, even if ptxas is found"),
            cl::init(false), cl::cat(category));
static cl::opt<std::string>
    headerFile("header", cl::desc("Header path (default: <output stem>.h)"),
               cl::cat(category));
static cl::opt<std::string> manifestFile(
    "manifest",
    cl::desc("Also write a JSON manifest of the exported functions (their C "
             "parameters: name, role, direction, element type, shape) here, "
             "for bindings such as the Python package"),
    cl::value_desc("file.json"), cl::cat(category));
static cl::opt<std::string> cpu("cpu", cl::desc("Target CPU (default: host)"),
                                cl::cat(category));
static cl::opt<std::string>
    features("features", cl::desc("Target features, e.g. +avx2,+fma"),
             cl::cat(category));
static cl::opt<int64_t>
    rows("rows", cl::desc("Query rows per work item (0: chosen per head dim)"),
         cl::init(0), cl::cat(category));
static cl::opt<int64_t> cols("cols",
                             cl::desc("Keys per kv tile (0: chosen per head "
                                      "dim)"),
                             cl::init(0), cl::cat(category));
static cl::opt<int64_t>
    bandRows("band-rows",
             cl::desc("Query rows whose scores a kv step computes, normalises "
                      "and applies together (0: chosen per head dim)"),
             cl::init(0), cl::cat(category));
static cl::opt<std::string>
    runtimeLib("runtime-lib",
               cl::desc("Path of libmha_runtime.a (default: beside the tool)"),
               cl::cat(category));
static cl::list<std::string>
    functions("function",
              cl::desc("Export only this function (repeatable; default: "
                       "every public function)"),
              cl::cat(category));
static cl::opt<std::string>
    isaOption("isa",
              cl::desc("Vector ISA of the kernels: auto (default: one copy per "
                       "ISA, avx512/avx2/generic and avx512bf16 for bf16 "
                       "specs, picked at run time by the CPU's features), "
                       "host (auto's copies this CPU would pick: none for "
                       "lesser CPUs), avx512bf16, avx512, avx2, generic, or "
                       "native (the host CPU or --cpu/--features only)"),
              cl::init("auto"), cl::cat(category));
static cl::list<int64_t> microKernel(
    "micro-kernel",
    cl::desc("S and P.V micro-kernel shape: score-rows,score-vectors,"
             "output-rows,output-vectors (default: chosen per head dim)"),
    cl::CommaSeparated, cl::cat(category));
static cl::opt<std::string>
    emitLLVM("emit-llvm", cl::desc("Also write the optimised LLVM IR here"),
             cl::value_desc("file.ll"), cl::cat(category));
static cl::opt<std::string> emitAsm("emit-asm",
                                    cl::desc("Also write the assembly here"),
                                    cl::value_desc("file.s"),
                                    cl::cat(category));
static cl::opt<unsigned>
    jobs("jobs",
         cl::desc("How many ISA copies compile at once (threads): 1 compiles "
                  "them one after the other; 0 (default) all at once"),
         cl::init(0), cl::cat(category));
static cl::opt<std::string> linker("cc",
                                   cl::desc("C compiler used to link (default: "
                                            "$CC, else cc)"),
                                   cl::cat(category));

/// Whether `op` computes attention on bf16 queries: such functions get the
/// AVX512-BF16 copy of the kernels.
/// Whether `op` holds a bf16 attention or layer (by its queries or input),
/// which the AVX512-BF16 copy is for.
/// Whether `op` has functions the AVX512-BF16 copy speeds up: bf16 queries
/// or layer inputs (vdpbf16ps), or int8 layer weights (AVX512-VNNI
/// vpdpbusd, which every AVX512-BF16 CPU has).
static bool hasBf16Queries(Operation *op) {
  bool found = false;
  op->walk([&](mha::AttentionOp attention) {
    found |= getElementTypeOrSelf(attention.getQuery().getType()).isBF16();
  });
  op->walk([&](mha::MultiHeadOp layer) {
    found |= getElementTypeOrSelf(layer.getInput().getType()).isBF16();
  });
  op->walk([&](mha::QuantizedOp) { found = true; });
  return found;
}

static int fail(const Twine &message) {
  llvm::errs() << "mha-compile: error: " << message << "\n";
  return 1;
}

/// Runs a program, returning a message on failure.
static std::optional<std::string> runProgram(StringRef program,
                                             ArrayRef<StringRef> args) {
  llvm::ErrorOr<std::string> path = llvm::sys::findProgramByName(program);
  if (!path)
    return ("cannot find '" + program + "' on PATH").str();
  std::string error;
  SmallVector<StringRef> argv{program};
  argv.append(args.begin(), args.end());
  int rc =
      llvm::sys::ExecuteAndWait(*path, argv, std::nullopt, {}, 0, 0, &error);
  if (rc != 0) {
    std::string command;
    for (StringRef a : argv)
      command += a.str() + " ";
    return ("'" + command + "' failed (exit " + Twine(rc) + ") " + error).str();
  }
  return std::nullopt;
}

/// Emits `module` (LLVM dialect) as a temporary object file, removed at exit,
/// and appends its path to `objects`. Returns the exit status (0 = ok).
static int
writeObject(ModuleOp module, const mha::CpuTargetOptions &targetOptions,
            StringRef stem, SmallVectorImpl<std::string> &objects,
            SmallVectorImpl<std::unique_ptr<llvm::FileRemover>> &removers) {
  SmallString<128> objectPath;
  if (std::error_code ec =
          llvm::sys::fs::createTemporaryFile(stem, "o", objectPath))
    return fail("cannot create a temporary file: " + ec.message());
  removers.push_back(std::make_unique<llvm::FileRemover>(objectPath));
  std::error_code ec;
  llvm::raw_fd_ostream os(objectPath, ec);
  if (ec)
    return fail("cannot write '" + objectPath + "': " + ec.message());
  if (failed(mha::emitCpuObject(module, targetOptions, os)))
    return 1;
  objects.push_back(std::string(objectPath));
  return 0;
}

static std::string defaultRuntimeLib(const char *argv0) {
  std::string exe = llvm::sys::fs::getMainExecutable(
      argv0, reinterpret_cast<void *>(&defaultRuntimeLib));
  SmallString<256> path(llvm::sys::path::parent_path(exe));
  llvm::sys::path::append(path, "..", "lib", "libmha_runtime.a");
  return std::string(path);
}

/// The artifact `outputFile` names: ".so", ".a", ".o", or ".ptx" (GPU only).
static StringRef getArtifactKind() {
  return llvm::sys::path::extension(outputFile);
}

/// The chips of --target=nvptx.
static std::string getChips() {
  return chip.empty() ? "sm_80,sm_90a" : chip.getValue();
}

/// Whether the library holds CPU code (--target=cpu or auto) and GPU code
/// (nvptx or auto).
static bool hasCpuCode() { return target == "cpu" || target == "auto"; }
static bool hasGpuCode() { return target == "nvptx" || target == "auto"; }

/// Checks the options that do not depend on the spec.
static int checkOptions() {
  StringRef ext = getArtifactKind();
  bool gpu = target == "nvptx";
  if (!hasCpuCode() && !hasGpuCode())
    return fail("unknown --target '" + target +
                "' (expected cpu, nvptx or auto)");
  if (!hasGpuCode() && !chip.empty())
    return fail("--chip only applies to --target=nvptx or auto");
  if (gpu && ext == ".ptx") {
    // PTX only: no host object, no link.
  } else if (ext != ".so" && ext != ".a" && ext != ".o") {
    return fail("cannot tell the artifact from '" + outputFile +
                "': the output must end in .so, .a or .o" +
                (gpu ? " (or .ptx)" : ""));
  }
  std::string chips = getChips();
  if (hasGpuCode()) {
    for (StringRef c : llvm::split(chips, ','))
      if (failed(mha::getPtxFeaturesForChip(c.trim())))
        return fail("unsupported --chip '" + c.trim() +
                    "': the GPU kernels need sm_80 or newer (sm_80, sm_86, "
                    "sm_89, sm_90, sm_90a, ...)");
    if (gpu && (isaOption != "auto" || !microKernel.empty() || !cpu.empty() ||
                !features.empty()))
      return fail("--isa, --micro-kernel, --cpu and --features only apply "
                  "to --target=cpu");
    if (gpu && (rows != 0 || bandRows != 0))
      return fail("--target=nvptx: query rows per CTA are --gpu-warps x "
                  "--gpu-row-tiles x 16; --rows and --band-rows only apply to "
                  "--target=cpu");
    if (cols % 16 != 0 || gpuWarps < 1 || gpuWarps > 16 || gpuRowTiles < 0 ||
        gpuRowTiles > 2 || gpuSm90aCols < 0 || gpuSm90aCols % 16 != 0 ||
        gpuSm90aCols > 256 || gpuSm90aWarpgroups < 0 || gpuSm90aWarpgroups > 4)
      return fail("--target=nvptx: --cols must be a multiple of 16, "
                  "--gpu-warps in [1, 16], --gpu-row-tiles 1 or 2, "
                  "--gpu-sm90a-cols a multiple of 16 up to 256 and "
                  "--gpu-sm90a-warpgroups in [1, 4]");
  }
  if (rows < 0 || cols < 0 || bandRows < 0)
    return fail("--rows, --cols and --band-rows must be >= 0 (0: chosen by "
                "the compiler)");

  return 0;
}

/// Parses the spec into `module` and keeps the --function selection.
static int parseSpec(MLIRContext &context, llvm::SourceMgr &sourceMgr,
                     OwningOpRef<ModuleOp> &module) {
  std::string error;
  std::unique_ptr<llvm::MemoryBuffer> input = openInputFile(inputFile, &error);
  if (!input)
    return fail(error);
  sourceMgr.AddNewSourceBuffer(std::move(input), llvm::SMLoc());
  module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;
  if (!functions.empty()) {
    for (const std::string &name : functions) {
      auto f = module->lookupSymbol<func::FuncOp>(name);
      if (!f || f.isPrivate() || f.isDeclaration())
        return fail("'" + inputFile + "' has no public function '" + name +
                    "'");
    }
    SmallVector<func::FuncOp> unselected;
    for (auto f : module->getOps<func::FuncOp>())
      if (!llvm::is_contained(functions, f.getSymName().str()))
        unselected.push_back(f);
    for (func::FuncOp f : unselected)
      f.erase();
  }
  bool hasFunctions = false;
  module->walk([&](func::FuncOp f) {
    if (f.isPublic() && !f.isDeclaration())
      hasFunctions = true;
  });
  if (!hasFunctions)
    return fail("'" + inputFile + "' has no public func.func to export");
  return 0;
}

/// What the build of a library collects: its object files (temporaries,
/// removed at exit) and the module whose functions the header declares
/// (the CPU code's with --target=auto, whose GPU code is `gpuHalf`).
struct Build {
  SmallVector<std::string> objects;
  SmallVector<std::unique_ptr<llvm::FileRemover>> removers;
  OwningOpRef<ModuleOp> primary;
  OwningOpRef<ModuleOp> gpuHalf;
};

/// --target=auto: each half's exported functions get a suffix (the
/// dispatchers take their names); "" otherwise.
static StringRef getHalfSuffix(StringRef half) {
  return target == "auto" ? half : StringRef();
}

/// A CPU every machine of the target triple can run (code off the hot
/// path: a GPU library's host glue, --target=auto's dispatchers).
static std::string getPortableCpu() {
  return llvm::Triple(llvm::sys::getDefaultTargetTriple()).isX86() ? "x86-64"
                                                                   : "generic";
}

/// --target=nvptx: the device pipeline, then PTX files (for .ptx) or the
/// cubins and the host object.
static int compileGpu(MLIRContext &context, OwningOpRef<ModuleOp> &module,
                      Build &build) {
  StringRef ext = getArtifactKind();
  mha::MhaNvptxPipelineOptions options;
  options.chips = getChips();
  options.warps = gpuWarps;
  options.rowTiles = gpuRowTiles;
  options.packGqa = gpuPackGqa;
  options.keysPerTile = cols;
  options.sm90aKeysPerTile = gpuSm90aCols;
  options.sm90aWarpgroups = gpuSm90aWarpgroups;
  PassManager device(&context);
  if (failed(applyPassManagerCLOptions(device)))
    return fail("bad pass manager options");
  mha::buildMhaNvptxDevicePipeline(device, options);
  if (failed(device.run(*module)))
    return 1;
  if (ext == ".ptx") {
    // The portable kernels go to the named file, the sm_90a kernels (a
    // module of their own) beside it as <stem>_sm90a.ptx.
    auto ptx = mha::getPtx(*module);
    if (failed(ptx))
      return fail("no PTX was produced");
    for (auto &[name, text] : *ptx) {
      SmallString<128> path(outputFile.getValue());
      if (name == mha::kGpuSm90aModuleName) {
        llvm::sys::path::replace_extension(path, "");
        path += "_sm90a.ptx";
      }
      std::string error;
      auto out = openOutputFile(path, &error);
      if (!out)
        return fail(error);
      out->os() << text;
      out->keep();
    }
    return 0;
  }
  if (std::optional<std::string> ptxas = mha::findPtxas();
      ptxas && !noCubin && failed(mha::addCubins(*module, *ptxas)))
    return 1;
  PassManager host(&context);
  mha::buildMhaNvptxHostPipeline(host);
  if (failed(host.run(*module)))
    return 1;
  StringRef suffix = getHalfSuffix(mha::kGpuHalfSuffix);
  if (!suffix.empty() && failed(mha::renameEntryPoints(*module, suffix)))
    return 1;
  // The host glue (argument checks, launches) runs on the GPU machine's
  // CPU, not necessarily this one's.
  mha::CpuTargetOptions targetOptions;
  targetOptions.cpu = getPortableCpu();
  if (target == "nvptx") { // --target=auto writes the CPU code's
    targetOptions.llvmIRPath = emitLLVM;
    targetOptions.assemblyPath = emitAsm;
  }
  if (int rc = writeObject(*module, targetOptions, "mha-host", build.objects,
                           build.removers))
    return rc;
  (build.primary ? build.gpuHalf : build.primary) = std::move(module);
  return 0;
}

/// One copy of the CPU kernels.
struct Variant {
  std::string suffix; // of the work functions; "" for --isa=native
  std::string cpu, features;
  int64_t vectorWidth;
  bool fma = true;      // baseline x86-64 has none: fmaf would be a libm call
  bool bf16Dot = false; // AVX512-BF16 micro-kernels for bf16 specs
};

/// The ISA level of this CPU (mha_rt_cpu_isa() without MHA_ISA).
static int getHostIsaLevel() {
  llvm::StringMap<bool> f = llvm::sys::getHostCPUFeatures();
  auto all = [&](std::initializer_list<StringRef> names) {
    return llvm::all_of(names, [&](StringRef n) { return f.lookup(n); });
  };
  if (all({"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx2",
           "fma"}))
    return all({"avx512bf16", "avx512vnni"}) ? MHA_ISA_AVX512BF16
                                             : MHA_ISA_AVX512;
  return all({"avx2", "fma"}) ? MHA_ISA_AVX2 : MHA_ISA_GENERIC;
}

/// The copies --isa asks for (none for the GPU).
static int chooseVariants(ModuleOp module, SmallVectorImpl<Variant> &variants) {
  bool x86 = llvm::Triple(llvm::sys::getDefaultTargetTriple()).isX86();
  std::string isa = isaOption.getValue();
  if ((isa == "auto" || isa == "host") &&
      (!x86 || !cpu.empty() || !features.empty()))
    isa = "native";
  if (isa == "auto" || isa == "host") {
    variants.assign({{"avx512", "x86-64-v4", "", 16},
                     {"avx2", "x86-64-v3", "", 8},
                     {"generic", "x86-64-v2", "", 4, false}});
    // bf16 specs get a fourth copy for CPUs with AVX512-BF16
    // (mha-emit-entry-points dispatches to it by the same rule).
    if (hasBf16Queries(module))
      variants.push_back({"avx512bf16", "x86-64-v4", "+avx512bf16,+avx512vnni",
                          16, true, true});
    // host: the copies this CPU's dispatch can pick, MHA_ISA aside (an
    // AVX-512 CPU picks avx512 or avx512bf16, never avx2 or generic). They
    // keep their dispatch, even alone, so a lesser CPU gets an error.
    if (isa == "host") {
      int host = getHostIsaLevel();
      int lowest = std::min(host, int(MHA_ISA_AVX512));
      llvm::erase_if(variants, [&](const Variant &v) {
        int level = mha::getIsaCopyLevel(v.suffix);
        return level > host || level < lowest;
      });
    }
  } else if (isa == "avx512bf16" || isa == "avx512" || isa == "avx2" ||
             isa == "generic") {
    if (!x86)
      return fail("--isa=" + isa + " needs an x86-64 host");
    int64_t vw = isa == "avx2" ? 8 : isa == "generic" ? 4 : 16;
    std::string level = isa == "avx2"      ? "x86-64-v3"
                        : isa == "generic" ? "x86-64-v2"
                                           : "x86-64-v4";
    bool bf16 = isa == "avx512bf16";
    // Named like auto's copy, it dispatches alone: a CPU without its
    // instructions gets an error, not an illegal instruction.
    variants.assign({{isa, level, bf16 ? "+avx512bf16,+avx512vnni" : "", vw,
                      isa != "generic", bf16}});
  } else if (isa == "native") {
    // The host CPU (or --cpu/--features): its vector width from its features.
    llvm::StringMap<bool> hostFeatures = llvm::sys::getHostCPUFeatures();
    bool avx512 = features.empty() && cpu.empty()
                      ? hostFeatures.lookup("avx512f")
                      : StringRef(features).contains("+avx512f") ||
                            StringRef(cpu).contains("v4") ||
                            StringRef(cpu).contains("avx512");
    bool bf16 = features.empty() && cpu.empty()
                    ? hostFeatures.lookup("avx512bf16")
                    : StringRef(features).contains("+avx512bf16");
    variants.assign(
        {{"", cpu, features, avx512 ? 16 : 8, true, avx512 && bf16}});
  } else {
    return fail("unknown --isa '" + isa +
                "' (expected auto, host, avx512bf16, "
                "avx512, avx2, generic or native)");
  }
  return 0;
}

/// The objects (temporaries, removed at exit) and the status of the copies
/// one context compiles, and a thread's diagnostics.
struct CopyObjects {
  SmallVector<std::string> objects;
  SmallVector<std::unique_ptr<llvm::FileRemover>> removers;
  std::string diagnostics;
  int rc = 0;
};

/// Copy `index` of `variant`: `copy` through the CPU pipeline to an object
/// file. Copy 0 exports the C functions (and takes the pass manager's
/// command-line options and --emit-llvm/--emit-asm).
static int compileCopy(MLIRContext &context, ModuleOp copy,
                       const Variant &variant, size_t index,
                       const mha::MhaCpuPipelineOptions &pipelineOptions,
                       ArrayRef<std::string> copies, CopyObjects &out) {
  bool first = index == 0;
  // The AVX512-BF16 copy of a multi-ISA library holds the bf16 functions
  // only: the others have nothing to gain from it.
  if (variant.bf16Dot && copies.size() > 1) {
    SmallVector<func::FuncOp> others;
    for (auto f : copy.getOps<func::FuncOp>())
      if (f.isPublic() && !f.isDeclaration() && !hasBf16Queries(f))
        others.push_back(f);
    for (func::FuncOp f : others)
      f.erase();
  }
  PassManager pm(&context);
  if (first && failed(applyPassManagerCLOptions(pm)))
    return fail("bad pass manager options");
  mha::MhaCpuPipelineOptions options;
  options.copyOptionValuesFrom(pipelineOptions);
  options.vectorWidth = variant.vectorWidth;
  options.useFma = variant.fma;
  options.bf16Dot = variant.bf16Dot;
  options.workSuffix = variant.suffix;
  options.exportFunctions = first;
  // Copies with a suffix dispatch; --isa=native's has none (its CPU and
  // features are the caller's promise).
  options.dispatch = !variant.suffix.empty();
  if (options.dispatch)
    options.copies = llvm::to_vector(copies);
  mha::buildMhaCpuPipeline(pm, options);
  if (failed(pm.run(copy)))
    return 1;
  StringRef suffix = getHalfSuffix(mha::kCpuHalfSuffix);
  if (first && !suffix.empty() && failed(mha::renameEntryPoints(copy, suffix)))
    return 1;

  mha::CpuTargetOptions targetOptions;
  targetOptions.cpu = variant.cpu;
  targetOptions.features = variant.features;
  if (first) {
    targetOptions.llvmIRPath = emitLLVM;
    targetOptions.assemblyPath = emitAsm;
  }
  return writeObject(copy, targetOptions, "mha-kernels", out.objects,
                     out.removers);
}

/// --target=cpu: every variant through the CPU pipeline to an object file;
/// the first one exports the C functions (and is kept for the header).
static int compileCpu(MLIRContext &context, ModuleOp module, Build &build) {
  SmallVector<Variant> variants;
  if (int rc = chooseVariants(module, variants))
    return rc;
  mha::MhaCpuPipelineOptions pipelineOptions;
  pipelineOptions.rowsPerItem = rows;
  pipelineOptions.keysPerTile = cols;
  pipelineOptions.bandRows = bandRows;
  if (!microKernel.empty()) {
    if (microKernel.size() != 4 ||
        llvm::any_of(microKernel, [](int64_t v) { return v < 1 || v > 16; }))
      return fail("--micro-kernel takes 4 values in [1, 16]");
    pipelineOptions.scoreRows = microKernel[0];
    pipelineOptions.scoreVectors = microKernel[1];
    pipelineOptions.outputRows = microKernel[2];
    pipelineOptions.outputVectors = microKernel[3];
  }

  // The copies the exported functions dispatch to (--isa=host leaves out
  // some).
  SmallVector<std::string> copies =
      llvm::map_to_vector(variants, [](const Variant &v) { return v.suffix; });
  auto compile = [&](MLIRContext &ctx, ModuleOp copy, size_t i,
                     CopyObjects &out) {
    return compileCopy(ctx, copy, variants[i], i, pipelineOptions, copies, out);
  };
  // The first copy exports the C functions and is kept for the header: it
  // runs here, in `context`, its diagnostics reported as they come. The
  // others run meanwhile on --jobs - 1 threads (all: one each), each
  // thread with a context of its own that parses the spec's text: the
  // copies are most of a spec's compile time and share nothing (MLIR, then
  // LLVM's optimiser and code generation).
  size_t rest = variants.size() - 1;
  size_t workers = jobs == 0 ? rest : std::min<size_t>(jobs - 1, rest);
  std::string spec;
  if (workers) {
    llvm::raw_string_ostream os(spec);
    module.print(os, OpPrintingFlags().enableDebugInfo());
    // LLVM's target registry, filled once before the threads read it.
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  }
  std::vector<CopyObjects> others(workers ? rest : 0);
  // (Made here: a context reads the command line and the registry.)
  std::vector<std::unique_ptr<MLIRContext>> contexts;
  for (size_t w = 0; w < workers; ++w) {
    contexts.push_back(
        std::make_unique<MLIRContext>(context.getDialectRegistry()));
    contexts.back()->loadAllAvailableDialects();
  }
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers; ++w)
    threads.emplace_back([&, w] {
      MLIRContext &ctx = *contexts[w];
      CopyObjects *out = nullptr;
      ScopedDiagnosticHandler capture(&ctx, [&](Diagnostic &diag) {
        llvm::raw_string_ostream os(out->diagnostics);
        os << diag.getLocation() << ": " << diag << "\n";
        return success();
      });
      for (size_t i = 1 + w; i < variants.size(); i += workers) {
        out = &others[i - 1];
        OwningOpRef<ModuleOp> copy = parseSourceString<ModuleOp>(spec, &ctx);
        out->rc = copy ? compile(ctx, *copy, i, *out) : 1;
      }
    });
  CopyObjects first;
  OwningOpRef<ModuleOp> primary = module.clone();
  first.rc = compile(context, *primary, 0, first);
  for (size_t i = 1; !workers && first.rc == 0 && i < variants.size(); ++i) {
    OwningOpRef<ModuleOp> copy = module.clone();
    first.rc = compile(context, *copy, i, first);
  }
  for (std::thread &t : threads)
    t.join();
  if (first.rc)
    return first.rc;
  for (auto [i, out] : llvm::enumerate(others))
    if (out.rc)
      return fail("the " + variants[i + 1].suffix +
                  " copy: " + StringRef(out.diagnostics).rtrim());
  build.primary = std::move(primary);
  auto take = [&](CopyObjects &out) {
    llvm::append_range(build.objects, out.objects);
    for (auto &remover : out.removers)
      build.removers.push_back(std::move(remover));
  };
  take(first);
  for (CopyObjects &out : others)
    take(out);
  return 0;
}

/// --target=auto: the object of the functions that pick a half.
static int writeDispatchers(Build &build) {
  FailureOr<OwningOpRef<ModuleOp>> dispatchers =
      mha::buildDeviceDispatchers(*build.primary, *build.gpuHalf);
  if (failed(dispatchers))
    return 1;
  mha::CpuTargetOptions targetOptions;
  targetOptions.cpu = getPortableCpu();
  return writeObject(**dispatchers, targetOptions, "mha-dispatch",
                     build.objects, build.removers);
}

/// The header's path: --header, or the output's with a .h extension.
static SmallString<256> getHeaderPath() {
  SmallString<256> header(headerFile);
  if (header.empty()) {
    header = outputFile;
    llvm::sys::path::replace_extension(header, ".h");
  }
  return header;
}

/// Links the objects and the runtime into the .so, .a or .o.
static int linkArtifact(const char *argv0, const Build &build) {
  StringRef ext = getArtifactKind();
  SmallString<256> header = getHeaderPath();
  // Where the artifacts go; their folders are created.
  for (StringRef file : {StringRef(outputFile), StringRef(header)}) {
    StringRef dir = llvm::sys::path::parent_path(file);
    if (std::error_code ec = dir.empty()
                                 ? std::error_code()
                                 : llvm::sys::fs::create_directories(dir))
      return fail("cannot create '" + dir + "': " + ec.message());
  }

  std::string runtime =
      runtimeLib.empty() ? defaultRuntimeLib(argv0) : runtimeLib.getValue();
  if (!llvm::sys::fs::exists(runtime))
    return fail("cannot find the mha runtime library '" + runtime +
                "' (pass --runtime-lib)");
  std::string cc = !linker.empty()                ? linker.getValue()
                   : std::getenv("CC") != nullptr ? std::getenv("CC")
                                                  : "cc";
  (void)llvm::sys::fs::remove(outputFile);
  std::optional<std::string> linkError;
  if (ext == ".so") {
    SmallVector<StringRef> args{"-shared", "-o", outputFile};
    args.append(build.objects.begin(), build.objects.end());
    // The whole runtime, so every function mha/runtime.h declares is there
    // whichever kinds of function the spec has.
    args.append({"-Wl,--whole-archive", runtime, "-Wl,--no-whole-archive",
                 "-lpthread", "-lm", "-ldl"});
    linkError = runProgram(cc, args);
  } else {
    // A relocatable object holding the kernels and the whole runtime.
    SmallString<128> combined(outputFile);
    if (ext == ".a")
      combined += ".tmp.o";
    llvm::FileRemover removeCombined(ext == ".a" ? combined.str() : "");
    SmallVector<StringRef> args{"-r", "-nostdlib", "-o", combined};
    args.append(build.objects.begin(), build.objects.end());
    args.append({"-Wl,--whole-archive", runtime, "-Wl,--no-whole-archive"});
    linkError = runProgram(cc, args);
    if (!linkError && ext == ".a")
      linkError = runProgram("ar", {"rcs", outputFile, combined});
  }
  if (linkError)
    return fail(*linkError);

  return 0;
}

/// The header, and mha/runtime.h beside it.
static int writeHeaders(ModuleOp primary) {
  SmallString<256> header = getHeaderPath();
  std::string guard = "MHA_GENERATED_";
  for (char c : llvm::sys::path::stem(header))
    guard += llvm::isAlnum(c) ? llvm::toUpper(c) : '_';
  guard += "_H";
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(header, ec);
    if (ec)
      return fail("cannot write '" + header + "': " + ec.message());
    if (failed(mha::writeCHeader(primary, guard,
                                 llvm::sys::path::filename(inputFile), os)))
      return 1;
  }
  SmallString<256> runtimeHeader(llvm::sys::path::parent_path(header));
  llvm::sys::path::append(runtimeHeader, "mha");
  if (std::error_code ec = llvm::sys::fs::create_directories(runtimeHeader))
    return fail("cannot create '" + runtimeHeader + "': " + ec.message());
  llvm::sys::path::append(runtimeHeader, "runtime.h");
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(runtimeHeader, ec);
    if (ec)
      return fail("cannot write '" + runtimeHeader + "': " + ec.message());
    os << mha::getRuntimeHeaderText();
  }
  return 0;
}

/// The mask attributes of one `mha.attention` (or `mha.multi_head`) of a
/// spec function, per
/// query head (what a caller that splits the sequence, such as the Python
/// package's ring attention, needs to know which key chunks a query chunk
/// can see).
struct AttentionMasks {
  int64_t queryHeads = 0, kvHeads = 0;
  bool causal = false, alibi = false, returnLse = false;
  int64_t sinkTokens = 0;
  SmallVector<int64_t> windowLeft, windowRight;
  SmallVector<bool> headAlive;
  SmallVector<float> dropout; // empty without the attribute
};

/// Each spec function's attentions (a layer's among them), in program
/// order, by function name;
/// collected before the pipelines rewrite the module.
static llvm::StringMap<std::vector<AttentionMasks>> specAttentions;

/// The masks of one attention (an mha.attention or a layer's).
template <typename OpTy>
static AttentionMasks getMasks(OpTy op, int64_t hq, int64_t hkv, int64_t d) {
  auto v = mha::AttentionVariant::get(op, hq, hkv, d);
  AttentionMasks m;
  m.queryHeads = v.numQueryHeads;
  m.kvHeads = v.numKvHeads;
  m.causal = v.causal;
  m.alibi = v.hasAlibi;
  m.returnLse = op.getReturnLse();
  m.sinkTokens = v.sinkTokens;
  m.windowLeft.assign(v.getWindowLefts().begin(), v.getWindowLefts().end());
  m.windowRight.assign(v.getWindowRights().begin(), v.getWindowRights().end());
  m.headAlive.assign(v.getHeadAlive().begin(), v.getHeadAlive().end());
  if (v.hasDropout)
    m.dropout.assign(v.getDropoutRates().begin(), v.getDropoutRates().end());
  return m;
}

static void collectAttentions(ModuleOp module) {
  for (auto f : module.getOps<func::FuncOp>()) {
    if (!f.isPublic() || f.isDeclaration())
      continue;
    std::vector<AttentionMasks> &list = specAttentions[f.getSymName()];
    f.walk([&](Operation *inner) {
      if (auto layer = dyn_cast<mha::MultiHeadOp>(inner)) {
        list.push_back(getMasks(layer, layer.getNumHeads(),
                                layer.getKvHeadCount(),
                                layer.getQueryHeadDim()));
        return;
      }
      auto op = dyn_cast<mha::AttentionOp>(inner);
      if (!op)
        return;
      auto q = dyn_cast<RankedTensorType>(op.getQuery().getType());
      auto k = dyn_cast<RankedTensorType>(op.getKey().getType());
      if (!q || !k || q.getRank() != 4 || k.getRank() < 2 ||
          q.isDynamicDim(1) || k.isDynamicDim(1))
        return;
      list.push_back(
          getMasks(op, q.getDimSize(1), k.getDimSize(1), q.getDimSize(3)));
    });
  }
}

/// "attention": [{"num_heads": Hq, "num_kv_heads": Hkv, "causal": ...,
/// "window_left": [Hq values, -1 = unbounded], "window_right": [...],
/// "sink_tokens": n, "head_mask": [Hq bools], "alibi": bool, "dropout":
/// [Hq rates] or null, "return_lse": bool}, ...]: the function's
/// mha.attention ops with every per-head array expanded to Hq values.
static void writeAttentions(llvm::json::OStream &json,
                            ArrayRef<AttentionMasks> list) {
  json.attributeArray("attention", [&] {
    for (const AttentionMasks &m : list)
      json.object([&] {
        json.attribute("num_heads", m.queryHeads);
        json.attribute("num_kv_heads", m.kvHeads);
        json.attribute("causal", m.causal);
        json.attributeArray("window_left", [&] {
          for (int64_t w : m.windowLeft)
            json.value(w);
        });
        json.attributeArray("window_right", [&] {
          for (int64_t w : m.windowRight)
            json.value(w);
        });
        json.attribute("sink_tokens", m.sinkTokens);
        json.attributeArray("head_mask", [&] {
          for (bool a : m.headAlive)
            json.value(a);
        });
        json.attribute("alibi", m.alibi);
        if (m.dropout.empty())
          json.attribute("dropout", nullptr);
        else
          json.attributeArray("dropout", [&] {
            for (float p : m.dropout)
              json.value(static_cast<double>(p));
          });
        json.attribute("return_lse", m.returnLse);
      });
  });
}

/// One function of the manifest: its name, C parameters and, for the
/// spec's functions, their mha.attention ops (writeAttentions).
static void writeManifestFunction(llvm::json::OStream &json,
                                  mha::EntryPointAttr entry,
                                  StringRef savedBytesFunction = "") {
  json.object([&] {
    json.attribute("name", entry.getName());
    json.attributeArray("params", [&] {
      for (auto [roleAttr, typeAttr] :
           llvm::zip(entry.getRoles(), entry.getTypes())) {
        mha::TensorRole role = cast<mha::TensorRoleAttr>(roleAttr).getValue();
        auto type = cast<MemRefType>(cast<TypeAttr>(typeAttr).getValue());
        std::string dtype;
        llvm::raw_string_ostream(dtype) << type.getElementType();
        ArrayRef<StringRef> names = mha::getDimNames(
            role, mha::ServingLayout::get(entry.getRoles()), type.getRank());
        json.object([&] {
          json.attribute("name", mha::getParameterName(role));
          json.attribute("role", mha::stringifyTensorRole(role));
          json.attribute("input", mha::isInputRole(role));
          json.attribute("dtype", dtype);
          json.attributeArray("shape", [&] {
            for (int64_t d = 0; d < type.getRank(); ++d) {
              if (!type.isDynamicDim(d))
                json.value(type.getDimSize(d));
              else if (d < static_cast<int64_t>(names.size()))
                json.value(names[d]);
              else
                json.value("?");
            }
          });
        });
      }
    });
    if (!savedBytesFunction.empty())
      json.attribute("saved_bytes_function", savedBytesFunction);
    StringRef forward = entry.getName();
    // A layer's backward and forward_train have its forward's heads and
    // masks.
    if (!forward.consume_back("_forward_train") &&
        llvm::any_of(entry.getRoles(), [](Attribute a) {
          return cast<mha::TensorRoleAttr>(a).getValue() ==
                 mha::TensorRole::grad_layer_output;
        }))
      forward.consume_back("_backward");
    auto it = specAttentions.find(forward);
    if (it != specAttentions.end())
      writeAttentions(json, it->second);
  });
}

/// --manifest: every exported function with its C parameters, in order:
/// {"version": 1, "target": ..., "functions": [{"name": ..., "params":
/// [{"name": "q", "role": "query", "input": true, "dtype": "f32",
/// "shape": ["B", 8, "Lq", 64]}, ...], "attention": [...]}]}. A dynamic
/// size is the name the header uses for it ("?" where it has none, e.g.
/// weights). Functions of the spec (not the backward functions) also list
/// their mha.attention ops' masks (writeAttentions). A layer backward's
/// `<name>_forward_train` names its `<name>_saved_bytes`
/// ("saved_bytes_function").
static int writeManifest(ModuleOp primary) {
  if (manifestFile.empty())
    return 0;
  std::error_code ec;
  llvm::raw_fd_ostream os(manifestFile, ec);
  if (ec)
    return fail("cannot write '" + manifestFile + "': " + ec.message());
  llvm::json::OStream json(os, 1);
  json.object([&] {
    json.attribute("version", 1);
    json.attribute("target", target.getValue());
    json.attributeArray("functions", [&] {
      for (auto func : primary.getOps<LLVM::LLVMFuncOp>()) {
        auto entry =
            func->getAttrOfType<mha::EntryPointAttr>("mha.entry_point");
        if (!entry || func.getSymName().starts_with("_mlir_ciface_"))
          continue;
        writeManifestFunction(json, entry);
        if (std::optional<mha::ForwardTrainEntry> train =
                mha::getForwardTrainEntry(entry))
          writeManifestFunction(json, train->entry, train->savedBytesName);
      }
    });
  });
  os << "\n";
  return 0;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  // --mlir-print-ir-after-all and friends, to follow the pipeline.
  registerPassManagerCLOptions();
  registerMLIRContextCLOptions();
  cl::ParseCommandLineOptions(argc, argv,
                              "mha-compile: attention specs to libraries\n");
  mha::useShortSharedPointers();
  if (int rc = checkOptions())
    return rc;

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  // Serialising gpu.modules translates them to LLVM IR.
  registerAllToLLVMIRTranslations(registry);
  registerAllGPUToLLVMIRTranslations(registry);
  mha::registerAllMhaDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  OwningOpRef<ModuleOp> module;
  if (int rc = parseSpec(context, sourceMgr, module))
    return rc;
  if (!manifestFile.empty())
    collectAttentions(*module);

  Build build;
  if (hasCpuCode())
    if (int rc = compileCpu(context, *module, build))
      return rc;
  if (hasGpuCode())
    if (int rc = compileGpu(context, module, build))
      return rc;
  if (hasGpuCode() && getArtifactKind() == ".ptx")
    return 0; // PTX only: no host object, no link.
  if (build.gpuHalf)
    if (int rc = writeDispatchers(build))
      return rc;
  if (int rc = linkArtifact(argv[0], build))
    return rc;
  if (int rc = writeHeaders(*build.primary))
    return rc;
  return writeManifest(*build.primary);
}

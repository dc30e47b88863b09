//===- Report.cpp - metrics.json and report.html of mha-analyze -----------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "Report.h"
#include "Prune.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir::mha::analysis;

static llvm::Error
writeFile(const std::string &path,
          llvm::function_ref<void(llvm::raw_ostream &)> body) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec)
    return llvm::createStringError(ec, "cannot write '%s': %s", path.c_str(),
                                   ec.message().c_str());
  body(os);
  os.close();
  if (os.has_error())
    return llvm::createStringError(os.error(), "cannot write '%s'",
                                   path.c_str());
  return llvm::Error::success();
}

llvm::Error mlir::mha::analysis::writeMetricsJson(const std::string &path,
                                                  const FunctionAnalysis &a) {
  return writeFile(path, [&](llvm::raw_ostream &os) {
    llvm::json::OStream j(os, 2);
    j.object([&] {
      j.attribute("function", a.name);
      j.attribute("variant", a.variant);
      j.attribute("dtype", a.elementType);
      j.attribute("inputs", a.inputs);
      j.attributeObject("shape", [&] {
        j.attribute("batch", a.batch);
        j.attribute("query_heads", a.queryHeads);
        j.attribute("kv_heads", a.kvHeads);
        j.attribute("query_len", a.queryLen);
        j.attribute("key_len", a.keyLen);
        j.attribute("head_dim", a.headDim);
        j.attribute("value_dim", a.valueDim);
      });
      j.attributeObject("heatmaps", [&] {
        j.attribute("batch", 0);
        j.attribute("scale", "log10");
        j.attribute("scale_low", a.scaleLow);
        j.attribute("downsampling", "block average");
        j.attribute("head_block", a.headFactor);
        j.attribute("grid_block", a.gridFactor);
      });
      j.attributeObject("gradient", [&] {
        j.attribute("of", a.gradientOf);
        j.attribute("source", a.gradientSource);
        j.attribute("proxy_file", a.gradientFile.empty()
                                      ? llvm::json::Value(nullptr)
                                      : llvm::json::Value(a.gradientFile));
        j.attribute("grad_importance",
                    "mean over batch elements b of |sum over b's rows and "
                    "columns of dL/dOut * dOut/dgate_h|");
        j.attribute("grad_importance_normalized",
                    "grad_importance / its L2 norm over the heads");
      });
      if (a.prune)
        j.attributeObject("prune", [&] {
          const FunctionAnalysis::PrunePlan &p = *a.prune;
          j.attributeArray("heads", [&] {
            for (int64_t h : p.heads)
              j.value(h);
          });
          j.attribute("ranked_by", p.rankedBy);
          j.attribute("output_change", p.outputChange);
          j.attribute("original_ms", p.originalMs);
          j.attribute("pruned_ms", p.prunedMs);
          j.attribute("speedup", p.originalMs / p.prunedMs);
          j.attribute("calls", p.calls);
          j.attribute("spec", "pruned.mlir");
        });
      j.attributeArray("heads", [&] {
        for (const HeadMetrics &m : a.heads) {
          j.object([&] {
            j.attribute("head", m.head);
            j.attribute("entropy", m.entropy);
            j.attribute("importance", m.importance);
            j.attribute("grad_importance", a.gradImportance[m.head]);
            j.attribute("grad_importance_normalized",
                        a.gradImportanceNormalized[m.head]);
            j.attribute("max_correlation",
                        m.maxCorrelation ? llvm::json::Value(*m.maxCorrelation)
                                         : llvm::json::Value(nullptr));
            j.attribute("most_similar_head",
                        m.mostSimilarHead
                            ? llvm::json::Value(*m.mostSimilarHead)
                            : llvm::json::Value(nullptr));
            j.attribute("mean_distance", m.meanDistance);
            j.attribute("kv_head", a.kvHead[m.head]);
            j.attribute("window_left", a.windowLeft[m.head]);
            j.attribute("window_right", a.windowRight[m.head]);
            j.attribute("pruned", static_cast<bool>(a.pruned[m.head]));
            j.attribute("image", "head_" + std::to_string(m.head) + ".png");
          });
        }
      });
    });
    os << "\n";
  });
}

static std::string escapeHtml(llvm::StringRef text) {
  std::string s;
  for (char c : text) {
    switch (c) {
    case '<':
      s += "&lt;";
      break;
    case '>':
      s += "&gt;";
      break;
    case '&':
      s += "&amp;";
      break;
    case '"':
      s += "&quot;";
      break;
    default:
      s += c;
    }
  }
  return s;
}

static const char kStyle[] = R"(<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: right; }
th { background: #eee; }
td.bar { text-align: left; min-width: 8em; }
td.bar span { display: inline-block; height: 0.8em; background: #3b528b; }
.heads img { margin: 0.3em; vertical-align: top; }
.note { color: #555; max-width: 60em; }
</style>
)";

static std::string formatWindow(int64_t w) {
  return w < 0 ? "-" : std::to_string(w);
}

llvm::Error
mlir::mha::analysis::writeFunctionReport(const std::string &path,
                                         const FunctionAnalysis &a) {
  return writeFile(path, [&](llvm::raw_ostream &os) {
    os << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n<title>"
       << "mha-analyze: " << escapeHtml(a.name) << "</title>\n"
       << kStyle << "</head><body>\n";
    os << "<h1>" << escapeHtml(a.name) << "</h1>\n<p>" << escapeHtml(a.variant)
       << ", " << a.elementType
       << llvm::formatv(", B={0} Hq={1} Hkv={2} Lq={3} Lk={4} D={5} Dv={6}",
                        a.batch, a.queryHeads, a.kvHeads, a.queryLen, a.keyLen,
                        a.headDim, a.valueDim)
       << "; inputs: " << escapeHtml(a.inputs) << ".</p>\n";
    os << "<h2>Metrics</h2>\n<table>\n<tr><th>head</th><th>kv head</th>"
          "<th>window left/right</th><th>pruned</th><th>entropy (nats)</th>"
          "<th>importance</th><th></th><th>grad importance</th>"
          "<th>normalised</th><th></th><th>max correlation</th>"
          "<th>most similar head</th><th>mean distance</th></tr>\n";
    double maxImportance = 0.0;
    for (const HeadMetrics &m : a.heads)
      maxImportance = std::max(maxImportance, m.importance);
    double maxGrad = 0.0;
    for (double g : a.gradImportanceNormalized)
      maxGrad = std::max(maxGrad, g);
    for (const HeadMetrics &m : a.heads) {
      double bar = maxImportance > 0 ? 100.0 * m.importance / maxImportance : 0;
      os << llvm::formatv(
          "<tr><td><a href=\"head_{0}.png\">{0}</a></td><td>{1}</td>"
          "<td>{2} / {3}</td><td>{4}</td><td>{5:f4}</td><td>{6:f4}</td>"
          "<td class=\"bar\"><span style=\"width: {7:f0}%\"></span></td>",
          m.head, a.kvHead[m.head], formatWindow(a.windowLeft[m.head]),
          formatWindow(a.windowRight[m.head]), a.pruned[m.head] ? "yes" : "",
          m.entropy, m.importance, bar);
      double grad = a.gradImportanceNormalized[m.head];
      double gradBar = maxGrad > 0 ? 100.0 * grad / maxGrad : 0;
      os << llvm::formatv(
          "<td>{0:e3}</td><td>{1:f4}</td>"
          "<td class=\"bar\"><span style=\"width: {2:f0}%\"></span></td>"
          "<td>{3}</td><td>{4}</td><td>{5:f1}</td></tr>\n",
          a.gradImportance[m.head], grad, gradBar,
          m.maxCorrelation ? llvm::formatv("{0:f4}", *m.maxCorrelation).str()
                           : std::string("-"),
          m.mostSimilarHead ? std::to_string(*m.mostSimilarHead)
                            : std::string("-"),
          m.meanDistance);
    }
    os << "</table>\n";
    os << "<p class=\"note\"><b>entropy</b>: mean Shannon entropy of the "
          "rows that see at least one key, all batches (ln Lk for a uniform "
          "row). <b>importance</b>: ||o - o<sub>without h</sub>|| / ||o||, "
          "head h ablated through the runtime head mask. <b>grad "
          "importance</b> (Michel et al. 2019): mean over batch elements of "
          "|dL/d&xi;<sub>h</sub>| at &xi; = 1 for a gate &xi;<sub>h</sub> on "
          "head h's output, with dL/dOut from "
       << escapeHtml(a.gradientSource)
       << (a.gradientFile.empty() ? std::string()
                                  : " (written to <a href=\"" + a.gradientFile +
                                        "\">" + a.gradientFile + "</a>)")
       << "; <b>normalised</b>: divided by its L2 norm over the heads. <b>max "
          "correlation</b>: the largest Pearson correlation of the head's "
          "probabilities with another head's. <b>mean distance</b>: mean of "
          "sum<sub>j</sub> p<sub>ij</sub> |i + Lk - Lq - j| over rows.</p>\n";
    if (a.prune) {
      const FunctionAnalysis::PrunePlan &p = *a.prune;
      os << "<h2>Pruning plan</h2>\n<p>";
      os << llvm::formatv(
          "Pruning heads {0} (the {1} alive heads of lowest {2}) changes the "
          "output by {3:e2} (relative L2, the heads ablated through the "
          "runtime mask). Recompiled with them in the static head_mask, the "
          "function takes {4:f3} ms instead of {5:f3} ms ({6:f2}x; median "
          "of {7} calls, its output alone). The spec with the plan applied "
          "is pruned.mlir in the output folder.",
          formatHeads(p.heads), p.heads.size(), p.rankedBy, p.outputChange,
          p.prunedMs, p.originalMs, p.originalMs / p.prunedMs, p.calls);
      os << "</p>\n";
    }
    os << "<h2>Attention probabilities</h2>\n<p class=\"note\">Batch element "
          "0; queries top to bottom, keys left to right; log10 colour scale "
          "from "
       << llvm::formatv("{0:e0}", a.scaleLow)
       << " to 1, grey for exact zeros (masked keys, pruned heads).";
    if (a.gridFactor > 1 || a.headFactor > 1)
      os << llvm::formatv(" Downsampled by averaging blocks of {0}x{0} "
                          "probabilities in the grid and {1}x{1} in the "
                          "per-head pictures.",
                          a.gridFactor, a.headFactor);
    os << "</p>\n<p><img src=\"heatmaps.png\" alt=\"heatmaps of every "
          "head\"></p>\n<div class=\"heads\">\n";
    for (const HeadMetrics &m : a.heads)
      os << llvm::formatv("<img src=\"head_{0}.png\" alt=\"head {0}\">\n",
                          m.head);
    os << "</div>\n<p class=\"note\">Raw numbers: <a "
          "href=\"metrics.json\">metrics.json</a>.</p>\n</body></html>\n";
  });
}

llvm::Error mlir::mha::analysis::writeIndexReport(
    const std::string &path, const std::vector<FunctionAnalysis> &analyses,
    const std::vector<std::pair<std::string, std::string>> &skipped) {
  return writeFile(path, [&](llvm::raw_ostream &os) {
    os << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n"
       << "<title>mha-analyze</title>\n"
       << kStyle << "</head><body>\n<h1>Head analysis</h1>\n<table>\n"
       << "<tr><th>function</th><th>variant</th><th>dtype</th><th>shape</th>"
          "<th>heatmaps</th></tr>\n";
    for (const FunctionAnalysis &a : analyses) {
      std::string name = escapeHtml(a.name);
      os << llvm::formatv(
          "<tr><td><a href=\"{0}/report.html\">{0}</a></td><td>{1}</td>"
          "<td>{2}</td><td>B={3} Hq={4} Hkv={5} Lq={6} Lk={7}</td>"
          "<td><a href=\"{0}/report.html\"><img src=\"{0}/heatmaps.png\" "
          "width=\"240\" alt=\"heatmaps of {0}\"></a></td></tr>\n",
          name, escapeHtml(a.variant), a.elementType, a.batch, a.queryHeads,
          a.kvHeads, a.queryLen, a.keyLen);
    }
    os << "</table>\n";
    if (!skipped.empty()) {
      os << "<h2>Not analysed</h2>\n<ul>\n";
      for (const auto &[name, reason] : skipped)
        os << "<li><b>" << escapeHtml(name) << "</b>: " << escapeHtml(reason)
           << "</li>\n";
      os << "</ul>\n";
    }
    os << "</body></html>\n";
  });
}

//===- Heatmaps.cpp - Attention heatmaps drawn with Cairo -----------------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "Heatmaps.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <memory>

using namespace mlir::mha::analysis;

// Layout constants (Heatmaps.h gives the resulting sizes).
static constexpr int kMargin = 8;
static constexpr int kHeadTitle = 24; // band above a head's picture
static constexpr int kBarBlock = 80;  // gap 10, bar 14, labels 56
static constexpr int kMinBar = 128;   // height the colour bar needs
static constexpr int kGridTitle = 32; // band above the grid
static constexpr int kCellTitle = 24; // band above each head of the grid

Heatmap mlir::mha::analysis::downsample(const float *probs, int64_t queryLen,
                                        int64_t keyLen, int64_t maxCells,
                                        int64_t target) {
  Heatmap map;
  map.factor = (std::max(queryLen, keyLen) + maxCells - 1) / maxCells;
  map.rows = (queryLen + map.factor - 1) / map.factor;
  map.cols = (keyLen + map.factor - 1) / map.factor;
  map.zoom = std::max<int64_t>(1, target / std::max(map.rows, map.cols));
  map.cells.assign(map.rows * map.cols, 0.0);
  std::vector<int64_t> counts(map.cells.size(), 0);
  for (int64_t i = 0; i < queryLen; ++i)
    for (int64_t j = 0; j < keyLen; ++j) {
      int64_t cell = (i / map.factor) * map.cols + j / map.factor;
      map.cells[cell] += probs[i * keyLen + j];
      ++counts[cell];
    }
  for (size_t c = 0; c < map.cells.size(); ++c)
    map.cells[c] /= static_cast<double>(counts[c]);
  return map;
}

double mlir::mha::analysis::getScaleLow(int64_t keyLen) {
  return std::pow(
      10.0, std::floor(std::log10(
                0.1 / static_cast<double>(std::max<int64_t>(keyLen, 1)))));
}

namespace {
struct Rgb {
  double r, g, b;
};

/// Matplotlib's viridis at nine evenly spaced points.
constexpr Rgb kViridis[] = {
    {0x44, 0x01, 0x54}, {0x47, 0x2c, 0x7a}, {0x3b, 0x52, 0x8b},
    {0x2c, 0x72, 0x8e}, {0x21, 0x91, 0x8c}, {0x28, 0xae, 0x80},
    {0x5e, 0xc9, 0x62}, {0xad, 0xdc, 0x30}, {0xfd, 0xe7, 0x25}};
/// Cells with probability exactly 0: no visible key, or a pruned head.
constexpr Rgb kZero = {0xe4, 0xe4, 0xe4};

/// The colour of t in [0, 1], 0-255 channels.
Rgb viridis(double t) {
  t = std::clamp(t, 0.0, 1.0) * 8.0;
  int i = std::min(static_cast<int>(t), 7);
  double f = t - i;
  const Rgb &a = kViridis[i], &b = kViridis[i + 1];
  return {a.r + f * (b.r - a.r), a.g + f * (b.g - a.g), a.b + f * (b.b - a.b)};
}

Rgb colourOf(double p, double low) {
  if (!(p > 0.0))
    return kZero;
  return viridis((std::log10(p) - std::log10(low)) / -std::log10(low));
}

uint32_t packPixel(const Rgb &c) {
  auto channel = [](double v) {
    return static_cast<uint32_t>(std::lround(std::clamp(v, 0.0, 255.0)));
  };
  return 0xff000000u | channel(c.r) << 16 | channel(c.g) << 8 | channel(c.b);
}

void setColour(cairo_t *cr, const Rgb &c) {
  cairo_set_source_rgb(cr, c.r / 255.0, c.g / 255.0, c.b / 255.0);
}

using Surface = std::unique_ptr<cairo_surface_t, void (*)(cairo_surface_t *)>;
using Context = std::unique_ptr<cairo_t, void (*)(cairo_t *)>;

/// A canvas with a white background.
struct Canvas {
  Surface surface;
  Context cr;
  Canvas(int width, int height)
      : surface(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height),
                cairo_surface_destroy),
        cr(cairo_create(surface.get()), cairo_destroy) {
    cairo_set_source_rgb(cr.get(), 1, 1, 1);
    cairo_paint(cr.get());
    cairo_select_font_face(cr.get(), "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_NORMAL);
  }
  bool write(const std::string &path, std::string &error) {
    cairo_surface_flush(surface.get());
    cairo_status_t status = cairo_status(cr.get());
    if (status == CAIRO_STATUS_SUCCESS)
      status = cairo_surface_write_to_png(surface.get(), path.c_str());
    if (status != CAIRO_STATUS_SUCCESS) {
      error = "cannot write '" + path + "': " + cairo_status_to_string(status);
      return false;
    }
    return true;
  }
};

void drawText(cairo_t *cr, double x, double y, double size,
              const std::string &text) {
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  cairo_set_font_size(cr, size);
  cairo_move_to(cr, x, y);
  cairo_show_text(cr, text.c_str());
}

/// Draws the cells of `map` with their top-left corner at (x, y).
void drawHeatmap(cairo_t *cr, const Heatmap &map, double x, double y,
                 double low) {
  Surface cells(cairo_image_surface_create(CAIRO_FORMAT_RGB24,
                                           static_cast<int>(map.cols),
                                           static_cast<int>(map.rows)),
                cairo_surface_destroy);
  cairo_surface_flush(cells.get());
  unsigned char *data = cairo_image_surface_get_data(cells.get());
  int stride = cairo_image_surface_get_stride(cells.get());
  for (int64_t r = 0; r < map.rows; ++r) {
    auto *row = reinterpret_cast<uint32_t *>(data + r * stride);
    for (int64_t c = 0; c < map.cols; ++c)
      row[c] = packPixel(colourOf(map.cells[r * map.cols + c], low));
  }
  cairo_surface_mark_dirty(cells.get());
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_scale(cr, static_cast<double>(map.zoom), static_cast<double>(map.zoom));
  cairo_set_source_surface(cr, cells.get(), 0, 0);
  cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
  cairo_rectangle(cr, 0, 0, static_cast<double>(map.cols),
                  static_cast<double>(map.rows));
  cairo_fill(cr);
  cairo_restore(cr);
}

/// Draws the vertical colour bar (1 at the top, `low` at the bottom) with a
/// label per power of ten, and a swatch for exact zeros below it.
void drawColourBar(cairo_t *cr, double x, double y, double height, double low) {
  const double width = 14;
  int steps = static_cast<int>(height);
  for (int s = 0; s < steps; ++s) {
    double t = 1.0 - (s + 0.5) / steps;
    setColour(cr, viridis(t));
    cairo_rectangle(cr, x, y + s, width, 1.0);
    cairo_fill(cr);
  }
  cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
  cairo_set_line_width(cr, 1.0);
  cairo_rectangle(cr, x + 0.5, y + 0.5, width - 1, height - 1);
  cairo_stroke(cr);
  int decades = static_cast<int>(std::lround(-std::log10(low)));
  for (int d = 0; d <= decades; ++d) {
    double ty = y + height * d / decades;
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_move_to(cr, x + width, ty + 0.5);
    cairo_line_to(cr, x + width + 4, ty + 0.5);
    cairo_stroke(cr);
    std::string label = d == 0   ? "1"
                        : d == 1 ? "0.1"
                        : d == 2 ? "0.01"
                                 : "1e-" + std::to_string(d);
    drawText(cr, x + width + 6, ty + 4, 10, label);
  }
  setColour(cr, kZero);
  cairo_rectangle(cr, x, y + height + 10, width, 10);
  cairo_fill(cr);
  drawText(cr, x + width + 6, y + height + 19, 10, "0");
}
} // namespace

bool mlir::mha::analysis::writeHeadPng(const std::string &path,
                                       const Heatmap &map,
                                       const std::string &title, double low,
                                       std::string &error) {
  int w = static_cast<int>(map.cols * map.zoom);
  int h = static_cast<int>(map.rows * map.zoom);
  int area = std::max(h, kMinBar);
  Canvas canvas(kMargin + w + kBarBlock + kMargin, kHeadTitle + area + kMargin);
  cairo_t *cr = canvas.cr.get();
  drawText(cr, kMargin, 17, 13, title);
  drawHeatmap(cr, map, kMargin, kHeadTitle, low);
  drawColourBar(cr, kMargin + w + 10, kHeadTitle, area - 24, low);
  return canvas.write(path, error);
}

bool mlir::mha::analysis::writeGridPng(const std::string &path,
                                       const std::vector<Heatmap> &maps,
                                       const std::string &title, double low,
                                       std::string &error) {
  int n = static_cast<int>(maps.size());
  int nc = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n))));
  int nr = (n + nc - 1) / nc;
  int w = static_cast<int>(maps[0].cols * maps[0].zoom);
  int h = static_cast<int>(maps[0].rows * maps[0].zoom);
  int area = std::max(nr * (h + kCellTitle), kMinBar + kCellTitle);
  Canvas canvas(kMargin + nc * (w + kMargin) + kBarBlock,
                kGridTitle + area + kMargin);
  cairo_t *cr = canvas.cr.get();
  drawText(cr, kMargin, 21, 14, title);
  for (int head = 0; head < n; ++head) {
    double x = kMargin + (head % nc) * (w + kMargin);
    double y = kGridTitle + (head / nc) * (h + kCellTitle);
    drawText(cr, x, y + 15, 12, "head " + std::to_string(head));
    drawHeatmap(cr, maps[head], x, y + kCellTitle - 4, low);
  }
  drawColourBar(cr, kMargin + nc * (w + kMargin) + 2,
                kGridTitle + kCellTitle - 4, area - kCellTitle - 20, low);
  return canvas.write(path, error);
}

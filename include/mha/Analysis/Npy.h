//===- Npy.h - NumPy .npy files: read and write -----------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// A small reader and writer of NumPy's .npy format (versions 1.0, 2.0 and
// 3.0): the header dictionary ('descr', 'fortran_order', 'shape') and the raw
// data. Plain C++: errors are returned as messages naming the file.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_ANALYSIS_NPY_H
#define MHA_ANALYSIS_NPY_H

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::mha::analysis {

/// The contents of a .npy file. Only C-order arrays are accepted.
struct NpyArray {
  /// NumPy's type string, e.g. "<f4" (little-endian f32) or "<f2" (f16).
  std::string descr;
  std::vector<int64_t> shape;
  /// The data, row-major, as stored in the file.
  std::vector<uint8_t> data;

  int64_t numElements() const;
};

/// Parses the bytes of a .npy file; `name` names it in error messages.
/// Returns false and sets `error` on a malformed file, Fortran order, or a
/// data size that does not match the header.
bool parseNpy(const std::string &bytes, const std::string &name,
              NpyArray &array, std::string &error);

/// Reads a .npy file; see parseNpy.
bool readNpy(const std::string &path, NpyArray &array, std::string &error);

/// Writes a version 1.0 .npy file with the given type string and shape.
/// `data` must hold the product of `shape` elements of the type's size.
bool writeNpy(const std::string &path, const std::string &descr,
              const std::vector<int64_t> &shape, const void *data,
              size_t numBytes, std::string &error);

/// The element size of a type string ("<f4" -> 4), or 0 when unknown.
size_t getNpyItemSize(const std::string &descr);

/// A shape as NumPy prints it: "(2, 4, 16)", "(5,)", "()".
std::string formatNpyShape(const std::vector<int64_t> &shape);

} // namespace mlir::mha::analysis

#endif // MHA_ANALYSIS_NPY_H

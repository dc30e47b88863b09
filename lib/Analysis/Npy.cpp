//===- Npy.cpp - NumPy .npy files: read and write -------------------------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The format (numpy.lib.format): the magic "\x93NUMPY", a major and minor
// version byte, the header length (uint16 LE for 1.0, uint32 LE for 2.0 and
// 3.0), then an ASCII Python dict literal padded with spaces and a newline,
// e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }, then the
// data.
//
//===----------------------------------------------------------------------===//

#include "mha/Analysis/Npy.h"

#include <cctype>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

using namespace mlir::mha::analysis;

static const char kMagic[] = "\x93NUMPY";
static constexpr size_t kMagicSize = 6;

int64_t NpyArray::numElements() const {
  int64_t n = 1;
  for (int64_t s : shape)
    n *= s;
  return n;
}

size_t mlir::mha::analysis::getNpyItemSize(const std::string &descr) {
  if (descr.size() < 3 || (descr[0] != '<' && descr[0] != '>' &&
                           descr[0] != '|' && descr[0] != '='))
    return 0;
  size_t size = 0;
  for (size_t i = 2; i < descr.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(descr[i])))
      return 0;
    size = size * 10 + (descr[i] - '0');
    if (size > 64)
      return 0;
  }
  return size;
}

std::string
mlir::mha::analysis::formatNpyShape(const std::vector<int64_t> &shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

namespace {
/// A cursor over the header dict literal.
struct HeaderParser {
  const std::string &text;
  size_t pos = 0;

  void skipSpaces() {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos])))
      ++pos;
  }
  bool consume(char c) {
    skipSpaces();
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  bool parseString(std::string &out) {
    skipSpaces();
    if (pos >= text.size() || (text[pos] != '\'' && text[pos] != '"'))
      return false;
    char quote = text[pos++];
    size_t end = text.find(quote, pos);
    if (end == std::string::npos)
      return false;
    out = text.substr(pos, end - pos);
    pos = end + 1;
    return true;
  }
  bool parseWord(std::string &out) {
    skipSpaces();
    size_t start = pos;
    while (pos < text.size() && std::isalpha(static_cast<unsigned char>(text[pos])))
      ++pos;
    out = text.substr(start, pos - start);
    return !out.empty();
  }
  bool parseShape(std::vector<int64_t> &shape) {
    if (!consume('('))
      return false;
    shape.clear();
    while (true) {
      if (consume(')'))
        return true;
      skipSpaces();
      size_t start = pos;
      int64_t value = 0;
      while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
        if (value > (std::numeric_limits<int64_t>::max() - 9) / 10)
          return false;
        value = value * 10 + (text[pos++] - '0');
      }
      if (pos == start)
        return false;
      if (pos < text.size() && text[pos] == 'L') // Python 2 longs
        ++pos;
      shape.push_back(value);
      if (!consume(',')) {
        if (!consume(')'))
          return false;
        return true;
      }
    }
  }
};
} // namespace

bool mlir::mha::analysis::parseNpy(const std::string &bytes,
                                   const std::string &name, NpyArray &array,
                                   std::string &error) {
  auto fail = [&](const std::string &message) {
    error = "'" + name + "': " + message;
    return false;
  };
  if (bytes.size() < kMagicSize + 4 ||
      std::memcmp(bytes.data(), kMagic, kMagicSize) != 0)
    return fail("not a NumPy .npy file (no \\x93NUMPY magic)");
  unsigned major = static_cast<uint8_t>(bytes[6]);
  size_t headerLen, headerStart;
  if (major == 1) {
    headerLen = static_cast<uint8_t>(bytes[8]) |
                (static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      return fail("truncated header");
    headerLen = 0;
    for (int i = 0; i < 4; ++i)
      headerLen |= static_cast<size_t>(static_cast<uint8_t>(bytes[8 + i]))
                   << (8 * i);
    headerStart = 12;
  } else {
    return fail("unsupported .npy format version " + std::to_string(major));
  }
  if (bytes.size() < headerStart + headerLen)
    return fail("truncated header");
  std::string header = bytes.substr(headerStart, headerLen);

  HeaderParser p{header};
  bool haveDescr = false, haveOrder = false, haveShape = false;
  bool fortran = false;
  if (!p.consume('{'))
    return fail("malformed header (expected a dict): " + header);
  while (!p.consume('}')) {
    std::string key;
    if (!p.parseString(key) || !p.consume(':'))
      return fail("malformed header: " + header);
    if (key == "descr") {
      if (!p.parseString(array.descr))
        return fail("malformed 'descr' (structured dtypes are not "
                    "supported): " + header);
      haveDescr = true;
    } else if (key == "fortran_order") {
      std::string word;
      if (!p.parseWord(word) || (word != "True" && word != "False"))
        return fail("malformed 'fortran_order': " + header);
      fortran = word == "True";
      haveOrder = true;
    } else if (key == "shape") {
      if (!p.parseShape(array.shape))
        return fail("malformed 'shape': " + header);
      haveShape = true;
    } else {
      return fail("unexpected key '" + key + "' in the header");
    }
    if (!p.consume(',')) {
      if (!p.consume('}'))
        return fail("malformed header: " + header);
      break;
    }
  }
  if (!haveDescr || !haveOrder || !haveShape)
    return fail("the header lacks 'descr', 'fortran_order' or 'shape'");
  if (fortran)
    return fail("Fortran-order arrays are not supported (save a C-order "
                "array, e.g. numpy.ascontiguousarray)");
  size_t itemSize = getNpyItemSize(array.descr);
  if (itemSize == 0)
    return fail("unsupported dtype '" + array.descr + "'");

  size_t count = 1;
  for (int64_t s : array.shape) {
    if (s != 0 && count > std::numeric_limits<size_t>::max() / 64 /
                              static_cast<size_t>(s))
      return fail("shape " + formatNpyShape(array.shape) + " is too large");
    count *= static_cast<size_t>(s);
  }
  size_t dataStart = headerStart + headerLen;
  size_t expected = count * itemSize;
  size_t found = bytes.size() - dataStart;
  if (found != expected)
    return fail("expected " + std::to_string(expected) + " bytes of data for "
                "shape " + formatNpyShape(array.shape) + " and dtype '" +
                array.descr + "', found " + std::to_string(found));
  array.data.assign(bytes.begin() + dataStart, bytes.end());
  return true;
}

bool mlir::mha::analysis::readNpy(const std::string &path, NpyArray &array,
                                  std::string &error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return parseNpy(contents.str(), path, array, error);
}

bool mlir::mha::analysis::writeNpy(const std::string &path,
                                   const std::string &descr,
                                   const std::vector<int64_t> &shape,
                                   const void *data, size_t numBytes,
                                   std::string &error) {
  size_t count = 1;
  for (int64_t s : shape)
    count *= static_cast<size_t>(s);
  if (getNpyItemSize(descr) == 0 || count * getNpyItemSize(descr) != numBytes) {
    error = "'" + path + "': " + std::to_string(numBytes) +
            " bytes do not match shape " + formatNpyShape(shape) +
            " and dtype '" + descr + "'";
    return false;
  }
  std::string header = "{'descr': '" + descr +
                       "', 'fortran_order': False, 'shape': " +
                       formatNpyShape(shape) + ", }";
  // Magic, version, length, header and newline: a multiple of 64 bytes.
  size_t total = kMagicSize + 4 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  if (!out) {
    error = "cannot write '" + path + "': " + std::strerror(errno);
    return false;
  }
  out.write(kMagic, kMagicSize);
  out.put(1);
  out.put(0);
  out.put(static_cast<char>(header.size() & 0xff));
  out.put(static_cast<char>(header.size() >> 8));
  out << header;
  out.write(static_cast<const char *>(data), static_cast<std::streamsize>(numBytes));
  if (!out) {
    error = "cannot write '" + path + "'";
    return false;
  }
  return true;
}

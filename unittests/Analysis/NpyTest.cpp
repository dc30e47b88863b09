//===- NpyTest.cpp - Tests of the .npy reader and writer ------------------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Analysis/Npy.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

using namespace mlir::mha::analysis;

namespace {

/// A version 1.0 file with `header` (padded) and `data` bytes.
std::string makeNpy(const std::string &dict, const std::string &data,
                    char major = 1) {
  std::string header = dict;
  size_t prefix = major == 1 ? 10 : 12;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string bytes = "\x93NUMPY";
  bytes += major;
  bytes += '\0';
  size_t len = header.size();
  bytes += static_cast<char>(len & 0xff);
  bytes += static_cast<char>((len >> 8) & 0xff);
  if (major != 1) {
    bytes += '\0';
    bytes += '\0';
  }
  return bytes + header + data;
}

std::string floats(std::initializer_list<float> values) {
  std::string s(values.size() * 4, '\0');
  std::memcpy(s.data(), values.begin(), s.size());
  return s;
}

TEST(NpyTest, ReadsF32) {
  NpyArray a;
  std::string error;
  ASSERT_TRUE(parseNpy(makeNpy("{'descr': '<f4', 'fortran_order': False, "
                               "'shape': (2, 3), }",
                               floats({1, 2, 3, 4, 5, 6})),
                       "x.npy", a, error))
      << error;
  EXPECT_EQ(a.descr, "<f4");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  ASSERT_EQ(a.data.size(), 24u);
  float f[6];
  std::memcpy(f, a.data.data(), 24);
  EXPECT_EQ(f[0], 1.0f);
  EXPECT_EQ(f[5], 6.0f);
}

TEST(NpyTest, ReadsF16AndOneDimensionAndVersion2) {
  NpyArray a;
  std::string error;
  // 1.0 and -2.0 in IEEE half.
  std::string data("\x00\x3c\x00\xc0", 4);
  ASSERT_TRUE(parseNpy(makeNpy("{\"descr\": \"<f2\", \"fortran_order\": "
                               "False, \"shape\": (2,)}",
                               data, 2),
                       "h.npy", a, error))
      << error;
  EXPECT_EQ(a.descr, "<f2");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(a.data, std::vector<uint8_t>(data.begin(), data.end()));
}

TEST(NpyTest, ReadsScalarAndEmpty) {
  NpyArray a;
  std::string error;
  ASSERT_TRUE(parseNpy(makeNpy("{'descr': '<f4', 'fortran_order': False, "
                               "'shape': (), }",
                               floats({7})),
                       "s.npy", a, error))
      << error;
  EXPECT_TRUE(a.shape.empty());
  EXPECT_EQ(a.numElements(), 1);
  ASSERT_TRUE(parseNpy(makeNpy("{'descr': '<f4', 'fortran_order': False, "
                               "'shape': (0, 4), }",
                               ""),
                       "e.npy", a, error))
      << error;
  EXPECT_EQ(a.numElements(), 0);
}

TEST(NpyTest, ErrorsNameTheFile) {
  NpyArray a;
  std::string error;
  EXPECT_FALSE(parseNpy("not a numpy file", "bad.npy", a, error));
  EXPECT_NE(error.find("'bad.npy'"), std::string::npos) << error;
  EXPECT_NE(error.find("magic"), std::string::npos) << error;

  EXPECT_FALSE(parseNpy(makeNpy("{'descr': '<f4', 'fortran_order': True, "
                                "'shape': (2, 3), }",
                                floats({1, 2, 3, 4, 5, 6})),
                        "f.npy", a, error));
  EXPECT_NE(error.find("Fortran"), std::string::npos) << error;

  // Data shorter than the shape says.
  EXPECT_FALSE(parseNpy(makeNpy("{'descr': '<f4', 'fortran_order': False, "
                                "'shape': (2, 3), }",
                                floats({1, 2, 3})),
                        "t.npy", a, error));
  EXPECT_NE(error.find("expected 24 bytes of data for shape (2, 3)"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("found 12"), std::string::npos) << error;

  EXPECT_FALSE(parseNpy(makeNpy("{'descr': [('a', '<f4')], 'fortran_order': "
                                "False, 'shape': (1,), }",
                                floats({1})),
                        "s.npy", a, error));
  EXPECT_NE(error.find("structured"), std::string::npos) << error;

  EXPECT_FALSE(parseNpy(makeNpy("{'descr': '<f4', 'shape': (1,), }",
                                floats({1})),
                        "m.npy", a, error));
  EXPECT_NE(error.find("lacks"), std::string::npos) << error;

  EXPECT_FALSE(parseNpy(std::string("\x93NUMPY\x01\x00\xff\x00{", 11),
                        "h.npy", a, error));
  EXPECT_NE(error.find("truncated header"), std::string::npos) << error;

  EXPECT_FALSE(readNpy("/nonexistent/q.npy", a, error));
  EXPECT_NE(error.find("cannot open '/nonexistent/q.npy'"), std::string::npos)
      << error;
}

TEST(NpyTest, WriteThenRead) {
  std::string path = ::testing::TempDir() + "mha_npy_test.npy";
  std::string error;
  std::string data = floats({1.5f, -2.5f, 3.25f, 0.0f, 8.0f, -1.0f});
  ASSERT_TRUE(writeNpy(path, "<f4", {1, 2, 3}, data.data(), data.size(), error))
      << error;
  NpyArray a;
  ASSERT_TRUE(readNpy(path, a, error)) << error;
  EXPECT_EQ(a.descr, "<f4");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(std::string(a.data.begin(), a.data.end()), data);
  // The header is padded so that the data starts 64-byte aligned.
  FILE *f = std::fopen(path.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::fseek(f, 0, SEEK_END);
  long size = std::ftell(f);
  EXPECT_EQ((size - 24) % 64, 0) << size;
  std::fclose(f);
  std::remove(path.c_str());

  EXPECT_FALSE(writeNpy(path, "<f4", {2}, data.data(), 12, error));
  EXPECT_NE(error.find("do not match shape (2,)"), std::string::npos) << error;
}

TEST(NpyTest, ItemSizesAndShapes) {
  EXPECT_EQ(getNpyItemSize("<f4"), 4u);
  EXPECT_EQ(getNpyItemSize("<f2"), 2u);
  EXPECT_EQ(getNpyItemSize("<f8"), 8u);
  EXPECT_EQ(getNpyItemSize("|u1"), 1u);
  EXPECT_EQ(getNpyItemSize("<U"), 0u);
  EXPECT_EQ(getNpyItemSize("f4"), 0u);
  EXPECT_EQ(formatNpyShape({}), "()");
  EXPECT_EQ(formatNpyShape({5}), "(5,)");
  EXPECT_EQ(formatNpyShape({1, 4, 24, 16}), "(1, 4, 24, 16)");
}

} // namespace

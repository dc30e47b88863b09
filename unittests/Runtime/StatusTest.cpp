//===- StatusTest.cpp - mha_status_string and the last error ----*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "Status.h"

#include "mha/runtime.h"

#include "gtest/gtest.h"

#include <cstring>
#include <string>
#include <thread>

namespace {

TEST(StatusTest, EveryStatusHasItsOwnName) {
  const struct {
    mha_status status;
    const char *prefix;
  } expected[] = {
      {MHA_OK, "MHA_OK:"},
      {MHA_ERR_NULL_POINTER, "MHA_ERR_NULL_POINTER:"},
      {MHA_ERR_RANK, "MHA_ERR_RANK:"},
      {MHA_ERR_DTYPE, "MHA_ERR_DTYPE:"},
      {MHA_ERR_SHAPE, "MHA_ERR_SHAPE:"},
      {MHA_ERR_DEVICE, "MHA_ERR_DEVICE:"},
      {MHA_ERR_LAYOUT, "MHA_ERR_LAYOUT:"},
      {MHA_ERR_INVALID_ARGUMENT, "MHA_ERR_INVALID_ARGUMENT:"},
      {MHA_ERR_NO_DEVICE, "MHA_ERR_NO_DEVICE:"},
      {MHA_ERR_CUDA, "MHA_ERR_CUDA:"},
      {MHA_ERR_OUT_OF_MEMORY, "MHA_ERR_OUT_OF_MEMORY:"},
      {MHA_ERR_INTERNAL, "MHA_ERR_INTERNAL:"},
  };
  for (const auto &e : expected) {
    const char *s = mha_status_string(e.status);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(std::string(s).rfind(e.prefix, 0), 0u) << s;
    // A description follows the name.
    EXPECT_GT(std::strlen(s), std::strlen(e.prefix) + 3) << s;
    // Static: the same pointer every time.
    EXPECT_EQ(s, mha_status_string(e.status));
  }
}

TEST(StatusTest, UnknownValuesAreNamed) {
  for (int v : {-1, 12, 99, 1 << 30}) {
    const char *s = mha_status_string(static_cast<mha_status>(v));
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(std::string(s).rfind("MHA_ERR_UNKNOWN", 0), 0u) << s;
  }
}

TEST(StatusTest, SetAndClear) {
  mha_rt_set_error("%s: '%s' dim %d is %d", "attn", "q", 2, 7);
  EXPECT_STREQ(mha_last_error(), "attn: 'q' dim 2 is 7");
  mha_rt_clear_error();
  EXPECT_STREQ(mha_last_error(), "");
}

TEST(StatusTest, LongMessagesAreTruncated) {
  std::string longArg(4000, 'x');
  mha_rt_set_error("head %s tail", longArg.c_str());
  const char *msg = mha_last_error();
  EXPECT_EQ(std::strlen(msg), static_cast<size_t>(MHA_RT_ERROR_CAPACITY - 1));
  EXPECT_EQ(std::string(msg).rfind("head xxx", 0), 0u);
  mha_rt_clear_error();
}

TEST(StatusTest, LastErrorIsPerThread) {
  mha_rt_set_error("main thread error");
  std::string seen, seenAfterSet;
  std::thread other([&] {
    seen = mha_last_error();
    mha_rt_set_error("other thread error");
    seenAfterSet = mha_last_error();
  });
  other.join();
  EXPECT_EQ(seen, "");
  EXPECT_EQ(seenAfterSet, "other thread error");
  EXPECT_STREQ(mha_last_error(), "main thread error");
  mha_rt_clear_error();
}

} // namespace

// SPDX-License-Identifier: BSD-3-Clause
// FUZZ_CHECK: an invariant of a fuzz target. Unlike assert() it stays on under NDEBUG (the fuzz
// preset builds RelWithDebInfo), and abort() makes libFuzzer save the input as a crash.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace airport::cache::fuzz {

[[noreturn]] inline void check_failed(const char* condition, const char* file, int line,
                                      std::string_view detail) {
  std::fprintf(stderr, "%s:%d: invariant failed: %s\n  detail: %.*s\n", file, line, condition,
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

}  // namespace airport::cache::fuzz

// `detail` is shown on failure: the message or key that broke the invariant.
#define FUZZ_CHECK(condition, detail)                                                 \
  do {                                                                                \
    if (!(condition)) {                                                               \
      ::airport::cache::fuzz::check_failed(#condition, __FILE__, __LINE__, (detail)); \
    }                                                                                 \
  } while (false)

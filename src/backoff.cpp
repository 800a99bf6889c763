// SPDX-License-Identifier: BSD-3-Clause
// full_jitter's thread-local generator: here rather than inline in backoff.hpp, so that the
// header needs no <random>.
#include "airport/cache/backoff.hpp"

#include <random>

namespace airport::cache {

std::chrono::milliseconds full_jitter(int attempt, std::chrono::milliseconds base,
                                      std::chrono::milliseconds cap) {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return full_jitter(attempt, base, cap,
                     std::uniform_real_distribution<double>{0.0, 1.0}(generator));
}

}  // namespace airport::cache

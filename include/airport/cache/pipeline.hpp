// SPDX-License-Identifier: BSD-3-Clause
// Pipeline: commands queued locally and sent in one round trip, replies returned in order. It
// keeps the commands already RESP-encoded in one buffer, so queueing allocates almost nothing.
#pragma once

#include <array>
#include <cstddef>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace airport::cache {

/// A batch of commands for Client::execute(pipeline) or Client::transaction(pipeline).
/// One thread at a time; reusable after clear().
class Pipeline {
 public:
  /// Queues one command given as argv.
  Pipeline& add(std::span<const std::string_view> argv);
  /// Queues one command given as a braced list: add({"SET", key, value}).
  Pipeline& add(std::initializer_list<std::string_view> argv);
  /// Queues one command from string-like arguments: add("SET", key, value).
  template <class... Args>
  requires(sizeof...(Args) > 0 && (std::is_convertible_v<const Args&, std::string_view> &&
                                   ...)) Pipeline& add(const Args&... args) {
    const std::array<std::string_view, sizeof...(Args)> argv{std::string_view{args}...};
    return add(std::span<const std::string_view>{argv});
  }

  /// Number of queued commands: the number of replies execute() returns.
  [[nodiscard]] std::size_t size() const noexcept { return count_; }
  /// Whether nothing is queued.
  [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
  /// Drops every queued command, keeping the buffer for reuse.
  void clear() noexcept {
    encoded_.clear();
    count_ = 0;
  }
  /// The queued commands as RESP bytes, ready for the wire.
  [[nodiscard]] std::string_view encoded() const noexcept { return encoded_; }

 private:
  std::string encoded_;
  std::size_t count_ = 0;
};

}  // namespace airport::cache

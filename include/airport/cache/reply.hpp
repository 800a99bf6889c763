// SPDX-License-Identifier: BSD-3-Clause
// Reply: one server reply as a plain value (nil, integer, string, status, error, array), for the
// generic command() API, pipelines and scripts. It owns its bytes; no hiredis type leaks out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace airport::cache {

/// The most elements one reply array may announce. The reader allocates an array's element
/// pointers as soon as it reads the count, so a broken or hostile server announcing 2^31 elements
/// would cost 16 GiB before sending a byte of them. A larger count is a ProtocolError and the
/// connection is dropped. 16,777,216 elements is far beyond any sane cache reply: walk bigger
/// collections with SCAN, HSCAN, SSCAN or ZSCAN.
inline constexpr std::size_t max_reply_array_elements = std::size_t{1} << 24;

/// The RESP2 reply kinds.
enum class ReplyType { Nil, Integer, String, Status, Error, Array };

/// One reply. A value type: cheap to move, safe to copy, no reference to any connection.
class Reply {
 public:
  Reply() = default;  // nil

  /// A nil reply (a missing key, an aborted EXEC).
  [[nodiscard]] static Reply nil() { return {}; }
  /// An integer reply (`:42`).
  [[nodiscard]] static Reply integer(long long value) {
    Reply reply{ReplyType::Integer};
    reply.integer_ = value;
    return reply;
  }
  /// A bulk string reply: a value's bytes.
  [[nodiscard]] static Reply string(std::string value) {
    return Reply{ReplyType::String, std::move(value)};
  }
  /// A status reply (`+OK`, `+QUEUED`): never a stored value.
  [[nodiscard]] static Reply status(std::string value) {
    return Reply{ReplyType::Status, std::move(value)};
  }
  /// An error reply; `value` is the text after the `-`, e.g. "WRONGTYPE Operation against...".
  [[nodiscard]] static Reply error(std::string value) {
    return Reply{ReplyType::Error, std::move(value)};
  }
  /// An array reply of `elements`.
  [[nodiscard]] static Reply array(std::vector<Reply> elements) {
    Reply reply{ReplyType::Array};
    reply.elements_ = std::move(elements);
    return reply;
  }

  /// Which kind of reply this is; the is_*() functions below test for one kind.
  [[nodiscard]] ReplyType type() const noexcept { return type_; }
  /// type() == ReplyType::Nil.
  [[nodiscard]] bool is_nil() const noexcept { return type_ == ReplyType::Nil; }
  /// type() == ReplyType::Integer.
  [[nodiscard]] bool is_integer() const noexcept { return type_ == ReplyType::Integer; }
  /// type() == ReplyType::String (a bulk string, i.e. a value).
  [[nodiscard]] bool is_string() const noexcept { return type_ == ReplyType::String; }
  /// type() == ReplyType::Status.
  [[nodiscard]] bool is_status() const noexcept { return type_ == ReplyType::Status; }
  /// type() == ReplyType::Error.
  [[nodiscard]] bool is_error() const noexcept { return type_ == ReplyType::Error; }
  /// type() == ReplyType::Array.
  [[nodiscard]] bool is_array() const noexcept { return type_ == ReplyType::Array; }

  /// The integer of an Integer reply; 0 for other kinds.
  [[nodiscard]] long long as_integer() const noexcept { return integer_; }
  /// The bytes of a String, Status or Error reply; empty for other kinds.
  [[nodiscard]] const std::string& text() const noexcept { return text_; }
  /// Moves the bytes out of a String, Status or Error reply.
  [[nodiscard]] std::string take_text() noexcept { return std::move(text_); }
  /// The elements of an Array reply; empty for other kinds.
  [[nodiscard]] const std::vector<Reply>& elements() const noexcept { return elements_; }
  /// The elements of an Array reply, to move them out.
  [[nodiscard]] std::vector<Reply>& elements() noexcept { return elements_; }

  /// The bytes of a String (bulk) reply; nullopt for every other kind. A Status is never a
  /// value: "QUEUED" or "OK" read as one would be a stored value that nobody stored.
  [[nodiscard]] std::optional<std::string> as_optional_string() const& {
    if (type_ == ReplyType::String)
      return text_;
    return std::nullopt;
  }
  /// As above, moving the bytes out of a temporary reply.
  [[nodiscard]] std::optional<std::string> as_optional_string() && {
    if (type_ == ReplyType::String)
      return std::move(text_);
    return std::nullopt;
  }

  friend bool operator==(const Reply&, const Reply&) = default;

 private:
  explicit Reply(ReplyType type, std::string text = {}) : type_{type}, text_{std::move(text)} {}

  ReplyType type_ = ReplyType::Nil;
  long long integer_ = 0;
  std::string text_;
  std::vector<Reply> elements_;
};

/// A stable lower-case name for a reply type, for messages: "nil", "integer", ...
[[nodiscard]] constexpr std::string_view to_string(ReplyType type) noexcept {
  switch (type) {
    case ReplyType::Nil:
      return "nil";
    case ReplyType::Integer:
      return "integer";
    case ReplyType::String:
      return "string";
    case ReplyType::Status:
      return "status";
    case ReplyType::Error:
      return "error";
    case ReplyType::Array:
      return "array";
  }
  return "unknown";
}

}  // namespace airport::cache

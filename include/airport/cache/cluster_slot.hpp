// SPDX-License-Identifier: BSD-3-Clause
// Valkey Cluster key slots: CRC16 (XMODEM) of the key, or of its {hash tag}, modulo 16384. Keys
// that must live together (a lock and its fencing counter, a flight's seat bitmap and seat
// locks) share a hash tag: "{flight:UA123}:seats" and "{flight:UA123}:lock:12C".
#pragma once

#include <cstdint>
#include <string_view>

namespace airport::cache {

/// The number of slots of a Valkey Cluster.
inline constexpr std::uint16_t cluster_slot_count = 16384;

/// CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), as the cluster specification defines it.
/// crc16("123456789") == 0x31C3.
[[nodiscard]] std::uint16_t crc16(std::string_view bytes) noexcept;

/// The part of `key` that is hashed: the text between the first '{' and the first '}' after it,
/// when that text is not empty; otherwise the whole key. "{user1000}.following" hashes
/// "user1000"; "{}x" and "x{" hash the whole key.
[[nodiscard]] std::string_view cluster_hash_tag(std::string_view key) noexcept;

/// The slot of `key`, 0-16383.
[[nodiscard]] inline std::uint16_t cluster_slot(std::string_view key) noexcept {
  return static_cast<std::uint16_t>(crc16(cluster_hash_tag(key)) % cluster_slot_count);
}

}  // namespace airport::cache

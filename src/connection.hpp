// SPDX-License-Identifier: BSD-3-Clause
// Connection: one authenticated session with a server. It encodes argv to RESP itself (no format
// strings, so every byte is data) and uses hiredis only to parse replies. It remembers what its
// commands changed about the server-side session, so the pool can undo it. One thread at a time.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "airport/cache/config.hpp"
#include "airport/cache/errors.hpp"
#include "airport/cache/reply.hpp"
#include "transport.hpp"

struct redisReader;

namespace airport::cache::detail {

/// The server refused this client's credentials (WRONGPASS, NOAUTH, ERR invalid password): not
/// a fault of one connection but of every connection the client will open.
class AuthRefusedError : public RefusedError {
 public:
  using RefusedError::RefusedError;
};

/// What the commands sent on a connection changed about its server-side session. Tracked from
/// the commands as they are sent, so it errs on the side of "changed".
struct SessionState {
  bool transaction = false;  // MULTI without EXEC or DISCARD yet
  bool watching = false;     // WATCH without EXEC, DISCARD or UNWATCH yet
  bool subscribed = false;   // (P|S)SUBSCRIBE
  bool changed = false;      // SELECT, CLIENT SETNAME / TRACKING / REPLY, RESET, AUTH, HELLO, ...
  bool reauthenticated = false;  // the caller's own AUTH, HELLO or RESET

  [[nodiscard]] bool clean() const noexcept {
    return !transaction && !watching && !subscribed && !changed && !reauthenticated;
  }
};

/// When Connection::open() sends its handshake (AUTH, SELECT, CLIENT SETNAME, READONLY, INFO).
enum class Handshake {
  /// Before open() returns, in a round trip of its own.
  Now,
  /// In the same write as the connection's first command, whose reply is read after the
  /// handshake's: a new connection costs no round trip of its own. A refused step throws from
  /// that first read_reply(), like open() would have. With a database to SELECT it is Now: a
  /// failed SELECT must not let a command run in database 0.
  WithFirstCommand,
};

/// How a handshake sent with the first command (Handshake::WithFirstCommand) ended, for the
/// pool, which would have seen it from open() otherwise.
struct HandshakeOutcome {
  enum class Kind {
    Accepted,
    Unavailable,         // a transient error (LOADING, too many clients): a failed connect
    Refused,             // RefusedError: SELECT, READONLY or another step refused
    CredentialsRefused,  // AuthRefusedError
  };
  Kind kind = Kind::Accepted;
  std::string error;  // the thrown error's message; empty when accepted
};

class Connection {
 public:
  using Clock = std::chrono::steady_clock;

  /// Connects, then AUTH (user + password, or password alone), SELECT and CLIENT SETNAME as the
  /// config asks, pipelined in one round trip. The connect gets connect_timeout and the
  /// handshake socket_timeout, each cut short by the thread's DeadlineScope. A readable
  /// `cancel_fd` abandons the connect, the handshake and every later read or write of the
  /// connection at once (ConnectionError). Throws ConnectionError or TimeoutError naming the
  /// endpoint, RefusedError (AuthRefusedError for credentials) with the server's reason when
  /// the server refuses the handshake. With `readonly`, READONLY joins the handshake (and the
  /// one after reset_session()): a cluster replica then serves reads of its primary's slots.
  [[nodiscard]] static std::unique_ptr<Connection> open(const ValkeyConfig& config,
                                                        int cancel_fd = -1, bool readonly = false,
                                                        Handshake when = Handshake::Now);

  Connection(std::unique_ptr<Transport> transport, std::string endpoint);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// The time one command may take, its write and its whole reply together, unless the
  /// thread's DeadlineScope ends sooner. Default 5 s; open() sets socket_timeout.
  void set_command_timeout(std::chrono::milliseconds timeout) noexcept {
    command_timeout_ = timeout;
  }
  /// A descriptor (an eventfd) whose readability abandons every later wait; -1 for none.
  void set_cancel_fd(int fd) noexcept { cancel_fd_ = fd; }

  /// Sends one command and reads its reply. Error replies come back as Reply::error, not thrown;
  /// I/O and protocol failures throw and leave the connection broken().
  [[nodiscard]] Reply execute(std::span<const std::string_view> argv);

  /// Pipelining: append() encodes into the output buffer, flush() sends it all in one write,
  /// read_reply() reads the next reply in order. flush() fixes the deadline of the write and of
  /// every reply read after it: bytes that trickle in cannot stretch it.
  void append(std::span<const std::string_view> argv);
  /// Appends commands that are already RESP-encoded by encode_command() (a Pipeline's buffer).
  void append_encoded(std::string_view resp);
  void flush(std::string_view operation);
  [[nodiscard]] Reply read_reply(std::string_view operation);
  /// Replaces the deadline of the replies read next: for replies nobody sent a command for,
  /// such as a subscriber's messages.
  void set_deadline(Clock::time_point deadline) noexcept {
    started_ = Clock::now();
    deadline_ = deadline;
  }

  /// True once an I/O, timeout or protocol error was seen: the stream position is unknown, so
  /// the connection must never be reused.
  [[nodiscard]] bool broken() const noexcept { return broken_; }
  /// True when the last flush failed before any byte left: the command surely never ran.
  [[nodiscard]] bool last_flush_sent_nothing() const noexcept { return sent_nothing_; }
  void mark_broken() noexcept { broken_ = true; }

  /// What the commands sent since open() (or the last reset_session()) changed.
  [[nodiscard]] const SessionState& session_state() const noexcept { return state_; }
  /// Brings the connection back to how open() left it: RESET (Valkey, Redis >= 6.2), then
  /// AUTH, SELECT, CLIENT SETNAME and READONLY as open() sent them, in one round trip bounded like
  /// a command. Throws like open(), and ProtocolError when the server does not know RESET; the
  /// connection must then be closed.
  void reset_session(const ValkeyConfig& config);
  /// The server's NOAUTH or WRONGPASS answer to a command of this connection's own credentials
  /// (not to the caller's own AUTH, HELLO or RESET), or empty: the server no longer accepts
  /// them.
  [[nodiscard]] const std::string& auth_rejection() const noexcept { return auth_rejection_; }

  /// The pool's generation when this connection was opened; see ConnectionPool.
  [[nodiscard]] std::uint64_t generation() const noexcept { return generation_; }
  /// The server process's run_id (INFO server), learnt in the connect handshake; empty when
  /// the server does not tell (INFO denied by ACL). A new one behind the same endpoint means the
  /// server restarted, maybe from an older snapshot.
  [[nodiscard]] const std::string& server_run_id() const noexcept { return server_run_id_; }
  /// Whether a handshake sent with the first command still waits for its replies.
  [[nodiscard]] bool handshake_pending() const noexcept { return pending_count_ > 0; }
  /// How a handshake sent with the first command ended, the first time it is asked after its
  /// replies were read; nullopt otherwise (and always for Handshake::Now).
  [[nodiscard]] std::optional<HandshakeOutcome> take_handshake_outcome() {
    return std::exchange(handshake_outcome_, std::nullopt);
  }
  /// server_run_id() the first time it is asked after the handshake learnt it, else empty: the
  /// pool compares each connection's server once, when it is opened or given back.
  [[nodiscard]] std::string take_new_server_run_id() {
    if (run_id_reported_)
      return {};
    run_id_reported_ = true;
    return server_run_id_;
  }
  void set_generation(std::uint64_t generation) noexcept { generation_ = generation; }

  [[nodiscard]] Clock::time_point last_used() const noexcept { return last_used_; }
  [[nodiscard]] const std::string& endpoint() const noexcept { return endpoint_; }
  [[nodiscard]] Transport& transport() noexcept { return *transport_; }

  /// Whether bytes of an unread reply are buffered (a subscriber may get several at once).
  [[nodiscard]] bool has_buffered_reply();

 private:
  [[noreturn]] void fail_io(std::string_view operation, const IoResult& result);
  void track(std::string_view command, std::string_view argument) noexcept;
  // Sends the handshake and checks its replies.
  void handshake(const ValkeyConfig& config, bool after_reset);
  // Appends the handshake's commands and names their steps in pending_steps_.
  void queue_handshake(const ValkeyConfig& config, bool after_reset);
  // Reads and checks the replies of the pending handshake steps; throws like open().
  void finish_handshake();
  // finish_handshake() for a handshake sent with the first command: keeps its outcome for
  // take_handshake_outcome().
  void finish_deferred_handshake();
  [[nodiscard]] Reply read_next_reply(std::string_view operation);
  void note_reply(std::string_view operation, const Reply& reply);

  std::unique_ptr<Transport> transport_;
  std::string endpoint_;
  redisReader* reader_;
  std::string output_;
  bool broken_ = false;
  bool sent_nothing_ = false;
  bool answered_ = false;  // a reply has been read: the server accepted the connection
  int cancel_fd_ = -1;
  bool readonly_ = false;  // READONLY in every handshake
  std::chrono::milliseconds command_timeout_{5000};
  Clock::time_point started_{};
  // No deadline until a command is sent: flush() and set_deadline() fix one.
  Clock::time_point deadline_ = Clock::time_point::max();
  SessionState state_;
  std::string auth_rejection_;
  std::uint64_t generation_ = 0;
  std::string server_run_id_;
  bool run_id_reported_ = true;  // take_new_server_run_id() returned the current one
  // The handshake steps whose replies are still to be read, one name each for the message of
  // the reply that refuses it; and how many leading bytes of output_ are a handshake not sent.
  std::array<std::string, 7> pending_steps_;
  std::size_t pending_count_ = 0;
  bool pending_after_reset_ = false;
  std::size_t handshake_bytes_ = 0;
  std::optional<HandshakeOutcome> handshake_outcome_;
  Clock::time_point last_used_ = Clock::now();
};

/// The value of `field:` in INFO text, or empty.
[[nodiscard]] std::string info_field(std::string_view info, std::string_view field);

/// Encodes one command as a RESP array of bulk strings, appended to out.
void encode_command(std::string& out, std::span<const std::string_view> argv);

/// Calls visit(name, first_argument) for each command in `resp`, which encode_command() wrote;
/// first_argument is empty for a command without one.
template <class Visit>
void for_each_command(std::string_view resp, Visit&& visit);

/// Whether `command` (any case) needs a connection of its own: SUBSCRIBE, PSUBSCRIBE,
/// SSUBSCRIBE, MONITOR. A pooled connection must never enter those modes.
[[nodiscard]] bool needs_own_connection(std::string_view command) noexcept;

/// Throws std::invalid_argument naming Subscriber when `command` needs_own_connection().
void refuse_own_connection_command(std::string_view caller, std::string_view command);

// --- implementation ---------------------------------------------------------------------------

namespace resp {
// Reads the decimal after a type marker up to "\r\n"; advances `at` past it.
inline std::size_t read_length(std::string_view resp, std::size_t& at) {
  std::size_t value = 0;
  ++at;  // the '*' or '$'
  while (at < resp.size() && resp[at] != '\r')
    value = value * 10 + static_cast<std::size_t>(resp[at++] - '0');
  at += 2;  // "\r\n"
  return value;
}
}  // namespace resp

template <class Visit>
void for_each_command(std::string_view resp, Visit&& visit) {
  std::size_t at = 0;
  while (at < resp.size()) {
    const std::size_t count = resp::read_length(resp, at);
    std::string_view name, argument;
    for (std::size_t i = 0; i < count && at < resp.size(); ++i) {
      const std::size_t length = resp::read_length(resp, at);
      if (i == 0)
        name = resp.substr(at, length);
      else if (i == 1)
        argument = resp.substr(at, length);
      at += length + 2;
    }
    visit(name, argument);
  }
}

}  // namespace airport::cache::detail

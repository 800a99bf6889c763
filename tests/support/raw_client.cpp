// SPDX-License-Identifier: BSD-3-Clause
#include "support/raw_client.hpp"

#include <hiredis/hiredis.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <utility>

namespace airport::cache::testing {
namespace {

struct ReplyDeleter {
  void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

timeval to_timeval(std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  return tv;
}

// hiredis writes with write(2), so a peer that closed (a killed server, FaultProxy::cut) would
// kill the whole test binary with SIGPIPE instead of failing one command with EPIPE.
void ignore_sigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

std::string render(const redisReply& reply) {
  switch (reply.type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      return std::string(reply.str, reply.len);
    case REDIS_REPLY_ERROR:
      return "(error) " + std::string(reply.str, reply.len);
    case REDIS_REPLY_INTEGER:
      return std::to_string(reply.integer);
    case REDIS_REPLY_NIL:
      return "(nil)";
    case REDIS_REPLY_ARRAY: {
      std::string text;
      for (std::size_t i = 0; i < reply.elements; ++i) {
        if (i > 0) {
          text += '\n';
        }
        text += render(*reply.element[i]);
      }
      return text;
    }
    default:
      // hiredis >= 1.0 adds RESP3 types; this oracle only ever speaks RESP2.
      throw std::runtime_error("RawClient: unsupported reply type " + std::to_string(reply.type));
  }
}

}  // namespace

struct RawClient::Reply {
  ReplyPtr value;
};

RawClient::RawClient(std::string host, int port, std::string password, std::string username,
                     std::chrono::milliseconds timeout)
    : host_(std::move(host)),
      port_(port),
      password_(std::move(password)),
      username_(std::move(username)),
      timeout_(timeout) {
  ignore_sigpipe();
  connect();
}

RawClient::~RawClient() {
  disconnect();
}

RawClient::RawClient(RawClient&& other) noexcept
    : host_(std::move(other.host_)),
      port_(other.port_),
      password_(std::move(other.password_)),
      username_(std::move(other.username_)),
      timeout_(other.timeout_),
      context_(std::exchange(other.context_, nullptr)) {}

RawClient& RawClient::operator=(RawClient&& other) noexcept {
  if (this != &other) {
    disconnect();
    host_ = std::move(other.host_);
    port_ = other.port_;
    password_ = std::move(other.password_);
    username_ = std::move(other.username_);
    timeout_ = other.timeout_;
    context_ = std::exchange(other.context_, nullptr);
  }
  return *this;
}

std::string RawClient::endpoint() const {
  return host_ + ":" + std::to_string(port_);
}

void RawClient::connect() {
  redisContext* context = redisConnectWithTimeout(host_.c_str(), port_, to_timeval(timeout_));
  if (context == nullptr) {
    throw std::runtime_error("RawClient " + endpoint() + ": cannot allocate a hiredis context");
  }
  if (context->err != 0) {
    const std::string reason = context->errstr;
    redisFree(context);
    throw std::runtime_error("RawClient " + endpoint() + ": connect failed: " + reason);
  }
  // redisConnectWithTimeout bounds only the connect; replies need their own timeout.
  if (redisSetTimeout(context, to_timeval(timeout_)) != REDIS_OK) {
    redisFree(context);
    throw std::runtime_error("RawClient " + endpoint() + ": cannot set the socket timeout");
  }
  context_ = context;
  if (password_.empty()) {
    return;
  }
  std::vector<std::string_view> auth{"AUTH"};
  if (!username_.empty()) {
    auth.emplace_back(username_);
  }
  auth.emplace_back(password_);
  const Reply reply = execute(auth);
  if (reply.value->type == REDIS_REPLY_ERROR) {
    disconnect();
    throw std::runtime_error("RawClient " + endpoint() + ": AUTH failed: " + render(*reply.value));
  }
}

void RawClient::disconnect() noexcept {
  if (context_ != nullptr) {
    redisFree(context_);
    context_ = nullptr;
  }
}

RawClient::Reply RawClient::execute(const std::vector<std::string_view>& args) {
  if (args.empty()) {
    throw std::invalid_argument("RawClient: empty command");
  }
  if (context_ == nullptr) {
    connect();
  }
  std::vector<const char*> argv;
  std::vector<std::size_t> argv_lengths;
  argv.reserve(args.size());
  argv_lengths.reserve(args.size());
  for (const auto arg : args) {
    argv.push_back(arg.data());
    argv_lengths.push_back(arg.size());
  }
  ReplyPtr reply(static_cast<redisReply*>(
      redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), argv_lengths.data())));
  if (reply == nullptr) {
    // Only the command name: later arguments may be secrets (AUTH) or large values.
    std::string reason = context_->errstr;
    // SO_RCVTIMEO expiring surfaces as EAGAIN; say what it means.
    if (context_->err == REDIS_ERR_IO && reason == std::strerror(EAGAIN)) {
      reason = "timed out after " + std::to_string(timeout_.count()) + " ms";
    }
    disconnect();
    throw std::runtime_error("RawClient " + endpoint() + ": " + std::string(args.front()) +
                             " failed: " + reason);
  }
  return Reply{std::move(reply)};
}

std::string RawClient::command(std::initializer_list<std::string_view> args) {
  return render(*execute(std::vector<std::string_view>(args)).value);
}

std::string RawClient::command(const std::vector<std::string>& args) {
  return render(*execute(std::vector<std::string_view>(args.begin(), args.end())).value);
}

std::optional<std::string> RawClient::get(std::string_view key) {
  const Reply reply = execute({"GET", key});
  switch (reply.value->type) {
    case REDIS_REPLY_NIL:
      return std::nullopt;
    case REDIS_REPLY_STRING:
      return std::string(reply.value->str, reply.value->len);
    default:
      throw std::runtime_error("RawClient " + endpoint() + ": GET: " + render(*reply.value));
  }
}

void RawClient::set(std::string_view key, std::string_view value) {
  const Reply reply = execute({"SET", key, value});
  if (reply.value->type != REDIS_REPLY_STATUS || render(*reply.value) != "OK") {
    throw std::runtime_error("RawClient " + endpoint() + ": SET: " + render(*reply.value));
  }
}

long long RawClient::integer(std::initializer_list<std::string_view> args) {
  const Reply reply = execute(std::vector<std::string_view>(args));
  if (reply.value->type != REDIS_REPLY_INTEGER) {
    throw std::runtime_error("RawClient " + endpoint() + ": " + std::string(*args.begin()) +
                             ": expected an integer, got: " + render(*reply.value));
  }
  return reply.value->integer;
}

void RawClient::set_timeout(std::chrono::milliseconds timeout) {
  timeout_ = timeout;
  if (context_ != nullptr && redisSetTimeout(context_, to_timeval(timeout_)) != REDIS_OK) {
    disconnect();
    throw std::runtime_error("RawClient " + endpoint() + ": cannot set the socket timeout");
  }
}

}  // namespace airport::cache::testing

// SPDX-License-Identifier: BSD-3-Clause
// The typed commands of Client, each one argv plus a reply conversion on top of execute().
#include "airport/cache/client.hpp"

#include <charconv>
#include <cstdlib>

#include <fmt/format.h>

#include "airport/cache/errors.hpp"

namespace airport::cache {
namespace {

using Args = std::vector<std::string_view>;

// Throws ReplyError for an error reply, RefusedError when it says the server no longer accepts
// the client's credentials; returns the reply otherwise.
Reply checked(Client& client, std::string_view operation, Reply reply) {
  if (reply.is_error()) {
    const std::string& text = reply.text();
    const std::string message = fmt::format("{} on {}: {}", operation, client.endpoint(), text);
    if (text.starts_with("NOAUTH") || text.starts_with("WRONGPASS"))
      throw RefusedError(message);
    throw ReplyError(message);
  }
  return reply;
}

[[noreturn]] void unexpected(Client& client, std::string_view operation, const Reply& reply) {
  if (reply.is_status()) {
    throw ProtocolError(fmt::format("{} on {}: unexpected status reply '{}'", operation,
                                    client.endpoint(), reply.text()));
  }
  throw ProtocolError(fmt::format("{} on {}: unexpected {} reply", operation, client.endpoint(),
                                  to_string(reply.type())));
}

// A bulk string or nil. A status ("QUEUED" inside MULTI, say) is never a stored value.
std::optional<std::string> optional_bulk(Client& client, std::string_view operation, Reply reply) {
  if (reply.is_nil())
    return std::nullopt;
  if (!reply.is_string())
    unexpected(client, operation, reply);
  return reply.take_text();
}

std::string bulk(Client& client, std::string_view operation, Reply reply) {
  if (!reply.is_string())
    unexpected(client, operation, reply);
  return reply.take_text();
}

void expect_ok(Client& client, std::string_view operation, const Reply& reply) {
  if (!reply.is_status() || reply.text() != "OK")
    unexpected(client, operation, reply);
}

long long integer_of(Client& client, std::string_view operation, const Reply& reply) {
  if (!reply.is_integer())
    unexpected(client, operation, reply);
  return reply.as_integer();
}

double double_of(Client& client, std::string_view operation, const std::string& text) {
  // Scores come back as text ("3.5", "inf", "-inf"); strtod accepts all of them.
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str()) {
    throw ProtocolError(
        fmt::format("{} on {}: '{}' is not a score", operation, client.endpoint(), text));
  }
  return value;
}

std::vector<std::optional<std::string>> optional_strings(Client& client, std::string_view operation,
                                                         Reply reply) {
  if (!reply.is_array())
    unexpected(client, operation, reply);
  std::vector<std::optional<std::string>> values;
  values.reserve(reply.elements().size());
  for (Reply& element : reply.elements())
    values.push_back(optional_bulk(client, operation, std::move(element)));
  return values;
}

std::vector<std::string> strings(Client& client, std::string_view operation, Reply reply) {
  if (!reply.is_array())
    unexpected(client, operation, reply);
  std::vector<std::string> values;
  values.reserve(reply.elements().size());
  for (Reply& element : reply.elements())
    values.push_back(element.take_text());
  return values;
}

std::vector<ScoredMember> scored_members(Client& client, std::string_view operation, Reply reply) {
  if (!reply.is_array() || reply.elements().size() % 2 != 0)
    unexpected(client, operation, reply);
  std::vector<ScoredMember> members;
  members.reserve(reply.elements().size() / 2);
  auto& elements = reply.elements();
  for (std::size_t i = 0; i < elements.size(); i += 2) {
    members.push_back(
        {elements[i].take_text(), double_of(client, operation, elements[i + 1].text())});
  }
  return members;
}

Reply run(Client& client, const Args& argv) {
  return checked(client, argv.front(), client.execute(CommandArgs{argv}));
}

template <class... Parts>
Reply run(Client& client, const Parts&... parts) {
  const std::array<std::string_view, sizeof...(Parts)> argv{std::string_view{parts}...};
  return checked(client, argv.front(), client.execute(CommandArgs{argv}));
}

Args with_prefix(std::initializer_list<std::string_view> head,
                 std::span<const std::string_view> tail) {
  Args argv{head};
  argv.insert(argv.end(), tail.begin(), tail.end());
  return argv;
}

std::string format_score(double score) {
  return fmt::format("{}", score);
}

}  // namespace

Reply Client::eval(const Script& script, std::span<const std::string_view> keys,
                   std::span<const std::string_view> args) {
  const std::string key_count = std::to_string(keys.size());
  Args argv{"EVALSHA", script.sha1(), key_count};
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  Reply reply = execute(CommandArgs{argv});
  if (reply.is_error() && reply.text().starts_with("NOSCRIPT")) {
    // The server lost its script cache (restart, SCRIPT FLUSH, failover): EVAL sends the source
    // and caches it again, so the next EVALSHA hits.
    argv[0] = "EVAL";
    argv[1] = script.source();
    reply = execute(CommandArgs{argv});
  }
  return reply;
}

std::optional<std::string> Client::get(std::string_view key) {
  return optional_bulk(*this, "GET", run(*this, "GET", key));
}

std::vector<Reply> Client::execute_overlapping(const Pipeline& pipeline,
                                               const std::function<void()>& while_waiting) {
  std::vector<Reply> replies = execute(pipeline);
  if (while_waiting)
    while_waiting();
  return replies;
}

bool Client::set(std::string_view key, std::string_view value, const SetOptions& options) {
  if (options.keep_ttl && options.ttl) {
    throw std::invalid_argument("Client::set: keep_ttl and ttl cannot be combined");
  }
  if (options.ttl && options.ttl->count() <= 0) {
    throw std::invalid_argument(
        fmt::format("Client::set: ttl must be positive, got {} ms", options.ttl->count()));
  }
  std::array<std::string_view, 6> argv{"SET", key, value};
  std::size_t size = 3;
  std::string ttl_text;
  if (options.ttl) {
    ttl_text = std::to_string(options.ttl->count());
    argv[size++] = "PX";
    argv[size++] = ttl_text;
  }
  if (options.keep_ttl)
    argv[size++] = "KEEPTTL";
  if (options.condition == SetCondition::IfNotExists)
    argv[size++] = "NX";
  if (options.condition == SetCondition::IfExists)
    argv[size++] = "XX";
  const Reply reply = checked(*this, "SET", execute(CommandArgs{argv.data(), size}));
  if (reply.is_nil())
    return false;
  expect_ok(*this, "SET", reply);
  return true;
}

std::optional<std::string> Client::getdel(std::string_view key) {
  return optional_bulk(*this, "GETDEL", run(*this, "GETDEL", key));
}

std::vector<std::optional<std::string>> Client::mget(std::span<const std::string_view> keys) {
  if (keys.empty())
    return {};
  return optional_strings(*this, "MGET", run(*this, with_prefix({"MGET"}, keys)));
}

void Client::mset(std::span<const std::pair<std::string_view, std::string_view>> items) {
  if (items.empty())
    return;
  Args argv{"MSET"};
  argv.reserve(1 + items.size() * 2);
  for (const auto& [key, value] : items) {
    argv.push_back(key);
    argv.push_back(value);
  }
  expect_ok(*this, "MSET", run(*this, argv));
}

long long Client::incr(std::string_view key) {
  return integer_of(*this, "INCR", run(*this, "INCR", key));
}

long long Client::incrby(std::string_view key, long long by) {
  const std::string amount = std::to_string(by);
  return integer_of(*this, "INCRBY", run(*this, "INCRBY", key, amount));
}

long long Client::decr(std::string_view key) {
  return integer_of(*this, "DECR", run(*this, "DECR", key));
}

long long Client::del(std::span<const std::string_view> keys) {
  if (keys.empty())
    return 0;
  return integer_of(*this, "DEL", run(*this, with_prefix({"DEL"}, keys)));
}

long long Client::del(std::string_view key) {
  return integer_of(*this, "DEL", run(*this, "DEL", key));
}

long long Client::unlink(std::span<const std::string_view> keys) {
  if (keys.empty())
    return 0;
  return integer_of(*this, "UNLINK", run(*this, with_prefix({"UNLINK"}, keys)));
}

long long Client::exists(std::span<const std::string_view> keys) {
  if (keys.empty())
    return 0;
  return integer_of(*this, "EXISTS", run(*this, with_prefix({"EXISTS"}, keys)));
}

bool Client::exists(std::string_view key) {
  return integer_of(*this, "EXISTS", run(*this, "EXISTS", key)) > 0;
}

bool Client::expire(std::string_view key, std::chrono::seconds ttl) {
  const std::string seconds = std::to_string(ttl.count());
  return integer_of(*this, "EXPIRE", run(*this, "EXPIRE", key, seconds)) == 1;
}

bool Client::pexpire(std::string_view key, std::chrono::milliseconds ttl) {
  const std::string milliseconds = std::to_string(ttl.count());
  return integer_of(*this, "PEXPIRE", run(*this, "PEXPIRE", key, milliseconds)) == 1;
}

std::optional<std::chrono::seconds> Client::ttl(std::string_view key) {
  const long long value = integer_of(*this, "TTL", run(*this, "TTL", key));
  if (value == -2)
    return std::nullopt;
  return std::chrono::seconds{value};
}

std::optional<std::chrono::milliseconds> Client::pttl(std::string_view key) {
  const long long value = integer_of(*this, "PTTL", run(*this, "PTTL", key));
  if (value == -2)
    return std::nullopt;
  return std::chrono::milliseconds{value};
}

bool Client::persist(std::string_view key) {
  return integer_of(*this, "PERSIST", run(*this, "PERSIST", key)) == 1;
}

std::string Client::type(std::string_view key) {
  return run(*this, "TYPE", key).take_text();
}

Client::ScanPage Client::scan(std::string_view cursor, std::string_view match, std::size_t count) {
  const std::string count_text = std::to_string(count);
  Reply reply = run(*this, "SCAN", cursor, "MATCH", match, "COUNT", count_text);
  if (!reply.is_array() || reply.elements().size() != 2)
    unexpected(*this, "SCAN", reply);
  return {reply.elements()[0].take_text(), strings(*this, "SCAN", std::move(reply.elements()[1]))};
}

long long Client::hset(std::string_view key,
                       std::span<const std::pair<std::string_view, std::string_view>> fields) {
  Args argv{"HSET", key};
  for (const auto& [field, value] : fields) {
    argv.push_back(field);
    argv.push_back(value);
  }
  return integer_of(*this, "HSET", run(*this, argv));
}

bool Client::hset(std::string_view key, std::string_view field, std::string_view value) {
  return integer_of(*this, "HSET", run(*this, "HSET", key, field, value)) == 1;
}

std::optional<std::string> Client::hget(std::string_view key, std::string_view field) {
  return optional_bulk(*this, "HGET", run(*this, "HGET", key, field));
}

std::vector<std::optional<std::string>> Client::hmget(std::string_view key,
                                                      std::span<const std::string_view> fields) {
  return optional_strings(*this, "HMGET", run(*this, with_prefix({"HMGET", key}, fields)));
}

std::unordered_map<std::string, std::string> Client::hgetall(std::string_view key) {
  std::vector<std::string> flat = strings(*this, "HGETALL", run(*this, "HGETALL", key));
  std::unordered_map<std::string, std::string> fields;
  fields.reserve(flat.size() / 2);
  for (std::size_t i = 0; i + 1 < flat.size(); i += 2) {
    fields.emplace(std::move(flat[i]), std::move(flat[i + 1]));
  }
  return fields;
}

long long Client::hdel(std::string_view key, std::span<const std::string_view> fields) {
  return integer_of(*this, "HDEL", run(*this, with_prefix({"HDEL", key}, fields)));
}

long long Client::hincrby(std::string_view key, std::string_view field, long long by) {
  const std::string amount = std::to_string(by);
  return integer_of(*this, "HINCRBY", run(*this, "HINCRBY", key, field, amount));
}

long long Client::sadd(std::string_view key, std::span<const std::string_view> members) {
  return integer_of(*this, "SADD", run(*this, with_prefix({"SADD", key}, members)));
}

long long Client::srem(std::string_view key, std::span<const std::string_view> members) {
  return integer_of(*this, "SREM", run(*this, with_prefix({"SREM", key}, members)));
}

std::vector<std::string> Client::smembers(std::string_view key) {
  return strings(*this, "SMEMBERS", run(*this, "SMEMBERS", key));
}

bool Client::sismember(std::string_view key, std::string_view member) {
  return integer_of(*this, "SISMEMBER", run(*this, "SISMEMBER", key, member)) == 1;
}

long long Client::zadd(std::string_view key, std::span<const ScoredMember> members) {
  std::vector<std::string> scores;
  scores.reserve(members.size());
  for (const ScoredMember& member : members)
    scores.push_back(format_score(member.score));
  Args argv{"ZADD", key};
  for (std::size_t i = 0; i < members.size(); ++i) {
    argv.push_back(scores[i]);
    argv.push_back(members[i].member);
  }
  return integer_of(*this, "ZADD", run(*this, argv));
}

long long Client::zadd(std::string_view key, std::string_view member, double score) {
  const std::string score_text = format_score(score);
  return integer_of(*this, "ZADD", run(*this, "ZADD", key, score_text, member));
}

double Client::zincrby(std::string_view key, double by, std::string_view member) {
  const std::string amount = format_score(by);
  return double_of(*this, "ZINCRBY",
                   bulk(*this, "ZINCRBY", run(*this, "ZINCRBY", key, amount, member)));
}

std::optional<double> Client::zscore(std::string_view key, std::string_view member) {
  std::optional<std::string> score =
      optional_bulk(*this, "ZSCORE", run(*this, "ZSCORE", key, member));
  if (!score)
    return std::nullopt;
  return double_of(*this, "ZSCORE", *score);
}

std::optional<long long> Client::zrank(std::string_view key, std::string_view member) {
  const Reply reply = run(*this, "ZRANK", key, member);
  if (reply.is_nil())
    return std::nullopt;
  return integer_of(*this, "ZRANK", reply);
}

std::optional<long long> Client::zrevrank(std::string_view key, std::string_view member) {
  const Reply reply = run(*this, "ZREVRANK", key, member);
  if (reply.is_nil())
    return std::nullopt;
  return integer_of(*this, "ZREVRANK", reply);
}

std::vector<ScoredMember> Client::zrange(std::string_view key, long long start, long long stop) {
  const std::string from = std::to_string(start), to = std::to_string(stop);
  return scored_members(*this, "ZRANGE", run(*this, "ZRANGE", key, from, to, "WITHSCORES"));
}

std::vector<ScoredMember> Client::zrevrange(std::string_view key, long long start, long long stop) {
  const std::string from = std::to_string(start), to = std::to_string(stop);
  return scored_members(*this, "ZREVRANGE", run(*this, "ZREVRANGE", key, from, to, "WITHSCORES"));
}

long long Client::zrem(std::string_view key, std::span<const std::string_view> members) {
  return integer_of(*this, "ZREM", run(*this, with_prefix({"ZREM", key}, members)));
}

long long Client::zcard(std::string_view key) {
  return integer_of(*this, "ZCARD", run(*this, "ZCARD", key));
}

bool Client::setbit(std::string_view key, std::uint64_t offset, bool value) {
  const std::string offset_text = std::to_string(offset);
  return integer_of(*this, "SETBIT", run(*this, "SETBIT", key, offset_text, value ? "1" : "0")) ==
         1;
}

bool Client::getbit(std::string_view key, std::uint64_t offset) {
  const std::string offset_text = std::to_string(offset);
  return integer_of(*this, "GETBIT", run(*this, "GETBIT", key, offset_text)) == 1;
}

long long Client::bitcount(std::string_view key) {
  return integer_of(*this, "BITCOUNT", run(*this, "BITCOUNT", key));
}

long long Client::publish(std::string_view channel, std::string_view message) {
  return integer_of(*this, "PUBLISH", run(*this, "PUBLISH", channel, message));
}

std::chrono::microseconds Client::ping() {
  const auto start = std::chrono::steady_clock::now();
  run(*this, "PING");
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               start);
}

std::string Client::info(std::string_view section) {
  if (section.empty())
    return bulk(*this, "INFO", run(*this, "INFO"));
  return bulk(*this, "INFO", run(*this, "INFO", section));
}

long long Client::dbsize() {
  return integer_of(*this, "DBSIZE", run(*this, "DBSIZE"));
}

void Client::flushdb() {
  expect_ok(*this, "FLUSHDB", run(*this, "FLUSHDB"));
}

}  // namespace airport::cache

// SPDX-License-Identifier: BSD-3-Clause
#include "airport/cache/cluster_client.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <spdlog/logger.h>

#include "airport/cache/cluster_slot.hpp"
#include "airport/cache/deadline.hpp"
#include "airport/cache/errors.hpp"
#include "airport/cache/logging.hpp"
#include "connection.hpp"
#include "seed_nodes.hpp"

namespace airport::cache {
namespace {

using Steady = std::chrono::steady_clock;
using Argv = std::vector<std::string_view>;

// Redirects one call may follow before it gives up: a slot moves once, maybe twice, in a
// resharding; more means the cluster disagrees with itself.
constexpr int max_redirects = 5;
// The least time between two full topology reads: a burst of MOVED starts one.
constexpr auto refresh_interval = std::chrono::milliseconds{100};
// Replica reads: how often the slot map is read again while a replica is still catching up
// ("loading"), and how long prefer-replica passes by a replica after it failed.
constexpr auto replica_recheck_interval = std::chrono::seconds{1};
constexpr auto failed_replica_pause = std::chrono::seconds{1};

bool equals_upper(std::string_view text, std::string_view upper) {
  return text.size() == upper.size() &&
         std::equal(text.begin(), text.end(), upper.begin(), [](char a, char b) {
           return (a >= 'a' && a <= 'z' ? static_cast<char>(a - 32) : a) == b;
         });
}

bool is_one_of(std::string_view command, std::initializer_list<std::string_view> names) {
  return std::any_of(names.begin(), names.end(),
                     [&](std::string_view name) { return equals_upper(command, name); });
}

// Commands whose every argument is a key, and which can be split by slot.
bool is_split_by_key(std::string_view command) {
  return is_one_of(command, {"MGET", "DEL", "UNLINK", "EXISTS", "TOUCH"});
}

bool is_keyless(std::string_view command) {
  return is_one_of(command,
                   {"PING",     "INFO",    "PUBLISH",   "ECHO",   "TIME",    "SCRIPT",   "CLIENT",
                    "CONFIG",   "CLUSTER", "COMMAND",   "MULTI",  "EXEC",    "DISCARD",  "ASKING",
                    "READONLY", "WAIT",    "RANDOMKEY", "DBSIZE", "FLUSHDB", "FLUSHALL", "UNWATCH",
                    "RESET",    "HELLO",   "AUTH",      "SELECT"});
}

// Read-only commands of one slot that a replica may serve under VALKEY_READ_FROM=replica or
// prefer-replica (MGET and EXISTS also per slot when split). Everything else, and every write,
// script, transaction and session, goes to the primary.
bool is_replica_read(std::string_view command) {
  return is_one_of(command,
                   {"GET",    "MGET",   "EXISTS",   "PTTL",     "TTL",    "STRLEN",    "GETRANGE",
                    "HGET",   "HMGET",  "HGETALL",  "HEXISTS",  "HLEN",   "SMEMBERS",  "SISMEMBER",
                    "SCARD",  "ZSCORE", "ZRANK",    "ZREVRANK", "ZRANGE", "ZREVRANGE", "ZCARD",
                    "ZCOUNT", "GETBIT", "BITCOUNT", "LRANGE",   "LLEN",   "TYPE"});
}

// The keys of one command, as the cluster routes it.
std::vector<std::string_view> keys_of(const Argv& argv) {
  std::vector<std::string_view> keys;
  if (argv.size() < 2 || is_keyless(argv[0]))
    return keys;
  const std::string_view name = argv[0];
  if (is_split_by_key(name) || equals_upper(name, "WATCH")) {
    keys.assign(argv.begin() + 1, argv.end());
  } else if (is_one_of(name, {"MSET", "MSETNX"})) {
    for (std::size_t i = 1; i < argv.size(); i += 2)
      keys.push_back(argv[i]);
  } else if (is_one_of(name, {"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})) {
    std::size_t count = 0;
    if (argv.size() >= 3)
      std::from_chars(argv[2].data(), argv[2].data() + argv[2].size(), count);
    for (std::size_t i = 3; i < argv.size() && i < 3 + count; ++i)
      keys.push_back(argv[i]);
  } else if (equals_upper(name, "BITOP")) {
    keys.assign(
        argv.begin() + std::min<std::ptrdiff_t>(2, static_cast<std::ptrdiff_t>(argv.size())),
        argv.end());
  } else {
    keys.push_back(argv[1]);
  }
  return keys;
}

// The one slot of `keys`, or std::invalid_argument naming them when they span several.
std::optional<std::uint16_t> single_slot(std::string_view caller,
                                         const std::vector<std::string_view>& keys) {
  if (keys.empty())
    return std::nullopt;
  const std::uint16_t slot = cluster_slot(keys.front());
  for (const auto key : keys) {
    if (cluster_slot(key) != slot) {
      std::string names;
      for (const auto k : keys)
        names += fmt::format("{}'{}' (slot {})", names.empty() ? "" : ", ", k, cluster_slot(k));
      throw std::invalid_argument(fmt::format(
          "{}: the keys {} are in different slots of the cluster; keys used together need a "
          "common {{hash tag}}, e.g. '{{flight:UA123}}:seats' and '{{flight:UA123}}:lock'",
          caller, names));
    }
  }
  return slot;
}

// Splits a pipeline's encoding back into its commands (views into `resp`).
std::vector<Argv> decode_commands(std::string_view resp) {
  std::vector<Argv> commands;
  std::size_t at = 0;
  while (at < resp.size()) {
    const std::size_t count = detail::resp::read_length(resp, at);
    Argv argv;
    argv.reserve(count);
    for (std::size_t i = 0; i < count && at < resp.size(); ++i) {
      const std::size_t length = detail::resp::read_length(resp, at);
      argv.push_back(resp.substr(at, length));
      at += length + 2;
    }
    commands.push_back(std::move(argv));
  }
  return commands;
}

// "MOVED 3999 127.0.0.1:6381" or "ASK 3999 127.0.0.1:6381".
struct Redirect {
  bool ask = false;
  std::uint16_t slot = 0;
  std::string host;
  int port = 0;
};

std::optional<Redirect> redirect_of(const Reply& reply) {
  if (!reply.is_error())
    return std::nullopt;
  const std::string_view text = reply.text();
  Redirect redirect;
  std::string_view rest;
  if (text.starts_with("MOVED ")) {
    rest = text.substr(6);
  } else if (text.starts_with("ASK ")) {
    redirect.ask = true;
    rest = text.substr(4);
  } else {
    return std::nullopt;
  }
  const auto space = rest.find(' ');
  const auto colon = rest.rfind(':');
  if (space == std::string_view::npos || colon == std::string_view::npos || colon < space)
    return std::nullopt;
  unsigned slot = 0;
  std::from_chars(rest.data(), rest.data() + space, slot);
  redirect.slot = static_cast<std::uint16_t>(slot);
  redirect.host = std::string{rest.substr(space + 1, colon - space - 1)};
  std::from_chars(rest.data() + colon + 1, rest.data() + rest.size(), redirect.port);
  if (redirect.host.empty())
    return std::nullopt;  // "MOVED 3999 :6381": the node did not know its own address
  return redirect;
}

bool is_busy_reply(const Reply& reply) {
  return reply.is_error() &&
         (reply.text().starts_with("TRYAGAIN") || reply.text().starts_with("CLUSTERDOWN"));
}

std::string endpoint_of(std::string_view host, int port) {
  return host.find(':') != std::string_view::npos ? fmt::format("[{}]:{}", host, port)
                                                  : fmt::format("{}:{}", host, port);
}

struct Node {
  std::string host;
  int port = 0;
  std::string endpoint;
  // The node's health as the cluster reports it: "online", "loading" (a replica that has not
  // caught up yet) or "fail". CLUSTER SLOTS lists only the replicas it deems available.
  std::string health = "online";
};

// Where a command goes: the node, and whether it is a replica serving a read.
struct Route {
  Node node;
  bool replica = false;
};

// The slot map: for each slot, the index of its primary in `primaries` (or -1), and the
// replicas of each primary, whatever their health.
struct Topology {
  std::vector<Node> primaries;
  std::vector<std::vector<Node>> replicas;
  std::array<std::int16_t, cluster_slot_count> owner{};
};

// An integer sent as an integer or as text (servers differ, and RESP2 maps carry both).
std::optional<long long> integer_of(const Reply& reply) {
  if (reply.is_integer())
    return reply.as_integer();
  if (!reply.is_string() && !reply.is_status())
    return std::nullopt;
  long long value = 0;
  const std::string& text = reply.text();
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size())
    return std::nullopt;
  return value;
}

// The value of `name` in a RESP2 map, a flat array of key, value, key, value...; nullptr when
// missing.
const Reply* field_of(const Reply& map, std::string_view name) {
  const auto& items = map.elements();
  for (std::size_t i = 0; i + 1 < items.size(); i += 2)
    if (items[i].text() == name)
      return &items[i + 1];
  return nullptr;
}

// Parses CLUSTER SLOTS: [[start, end, [host, port, id], [replica host, port, id]...]...].
std::shared_ptr<Topology> parse_cluster_slots(const Reply& reply, std::string_view asked_host) {
  if (!reply.is_array())
    throw ProtocolError("CLUSTER SLOTS: not an array");
  auto topology = std::make_shared<Topology>();
  topology->owner.fill(-1);
  std::map<std::string, std::int16_t> index;
  for (const Reply& range : reply.elements()) {
    if (!range.is_array() || range.elements().size() < 3)
      continue;
    const auto& parts = range.elements();
    const auto node_of = [&](const Reply& entry) {
      Node node;
      if (!entry.is_array() || entry.elements().size() < 2)
        return node;
      node.host = entry.elements()[0].text();
      // An empty host means "the address you reached me at".
      if (node.host.empty())
        node.host = std::string{asked_host};
      node.port = static_cast<int>(entry.elements()[1].as_integer());
      node.endpoint = endpoint_of(node.host, node.port);
      return node;
    };
    const Node primary = node_of(parts[2]);
    if (primary.port == 0)
      continue;
    auto [at, fresh] =
        index.try_emplace(primary.endpoint, static_cast<std::int16_t>(topology->primaries.size()));
    if (fresh) {
      topology->primaries.push_back(primary);
      topology->replicas.emplace_back();
      for (std::size_t i = 3; i < parts.size(); ++i) {
        Node replica = node_of(parts[i]);
        if (replica.port != 0)
          topology->replicas.back().push_back(std::move(replica));
      }
    }
    const auto first = static_cast<std::size_t>(parts[0].as_integer());
    const auto last = static_cast<std::size_t>(parts[1].as_integer());
    for (std::size_t slot = first; slot <= last && slot < cluster_slot_count; ++slot)
      topology->owner[slot] = at->second;
  }
  if (topology->primaries.empty())
    throw ProtocolError("CLUSTER SLOTS: no slot is served");
  return topology;
}

// Parses CLUSTER SHARDS (Valkey, Redis >= 7.0): one map per shard with "slots" (start, end,
// start, end...) and "nodes" (maps with "endpoint" or "ip", "port" or "tls-port", "role" and
// "health"). Unlike CLUSTER SLOTS it lists every replica with its health, so that a replica
// which has not caught up is known and skipped for reads instead of missing.
std::shared_ptr<Topology> parse_cluster_shards(const Reply& reply, std::string_view asked_host,
                                               bool tls) {
  if (!reply.is_array())
    throw ProtocolError("CLUSTER SHARDS: not an array");
  auto topology = std::make_shared<Topology>();
  topology->owner.fill(-1);
  std::map<std::string, std::int16_t> index;
  for (const Reply& shard : reply.elements()) {
    const Reply* slots = field_of(shard, "slots");
    const Reply* members = field_of(shard, "nodes");
    if (!shard.is_array() || !slots || !members || slots->elements().empty())
      continue;  // a shard without slots serves nothing (CLUSTER SLOTS leaves it out too)
    std::optional<Node> primary;
    std::vector<Node> replicas;
    for (const Reply& member : members->elements()) {
      Node node;
      const Reply* endpoint = field_of(member, "endpoint");
      const Reply* ip = field_of(member, "ip");
      node.host = endpoint && !endpoint->text().empty() ? endpoint->text()
                  : ip                                  ? ip->text()
                                                        : std::string{};
      // Empty means "the address you reached me at"; "?" an address the node does not know.
      if (node.host.empty())
        node.host = std::string{asked_host};
      const Reply* tls_port = field_of(member, "tls-port");
      const Reply* port = tls && tls_port ? tls_port : field_of(member, "port");
      if (!port)
        port = tls_port;
      node.port = port ? static_cast<int>(integer_of(*port).value_or(0)) : 0;
      if (node.host == "?" || node.port <= 0)
        continue;
      node.endpoint = endpoint_of(node.host, node.port);
      const Reply* health = field_of(member, "health");
      node.health = health ? health->text() : "online";
      const Reply* role = field_of(member, "role");
      const bool is_primary = role && (role->text() == "master" || role->text() == "primary");
      // A shard has one primary; should two claim it mid-failover, the one online wins.
      if (is_primary && (!primary || (primary->health != "online" && node.health == "online")))
        primary = std::move(node);
      else if (!is_primary)
        replicas.push_back(std::move(node));
    }
    if (!primary)
      continue;
    auto [at, fresh] =
        index.try_emplace(primary->endpoint, static_cast<std::int16_t>(topology->primaries.size()));
    if (fresh) {
      topology->primaries.push_back(*primary);
      topology->replicas.push_back(std::move(replicas));
    }
    const auto& bounds = slots->elements();
    for (std::size_t i = 0; i + 1 < bounds.size(); i += 2) {
      const auto first = integer_of(bounds[i]);
      const auto last = integer_of(bounds[i + 1]);
      if (!first || !last || *first < 0)
        continue;
      for (auto slot = static_cast<std::size_t>(*first);
           slot <= static_cast<std::size_t>(*last) && slot < cluster_slot_count; ++slot)
        topology->owner[slot] = at->second;
    }
  }
  if (topology->primaries.empty())
    throw ProtocolError("CLUSTER SHARDS: no slot is served");
  return topology;
}

class NodeSession final : public Session {
 public:
  NodeSession(std::function<std::unique_ptr<Session>(std::optional<std::uint16_t>)> open)
      : open_{std::move(open)} {}
  Reply execute(CommandArgs argv) override {
    if (argv.empty())
      throw std::invalid_argument("Session::execute: empty command");
    const Argv args(argv.begin(), argv.end());
    const auto slot = single_slot("ClusterClient session", keys_of(args));
    if (!session_) {
      session_ = open_(slot);
      slot_ = slot;
    } else if (slot && slot_ && *slot != *slot_) {
      throw std::invalid_argument(fmt::format(
          "ClusterClient session: '{}' is in slot {}, but this session's connection serves "
          "slot {}; keys used together need a common {{hash tag}}",
          keys_of(args).front(), *slot, *slot_));
    } else if (slot && !slot_) {
      slot_ = slot;
    }
    return session_->execute(argv);
  }

 private:
  std::function<std::unique_ptr<Session>(std::optional<std::uint16_t>)> open_;
  std::unique_ptr<Session> session_;
  std::optional<std::uint16_t> slot_;
};

}  // namespace

struct ClusterClient::Impl {
  Impl(ValkeyConfig cluster_config, ClientOptions client_options)
      : config{std::move(cluster_config)},
        options{std::move(client_options)},
        logger{resolve_logger(options.logger, config.log_level)} {
    options.logger = logger;
    for (const auto& [host, port] : detail::dialable_endpoints(config))
      seeds.push_back({host, port, endpoint_of(host, port)});
  }

  // What the client keeps of one node, made on first use and kept: its ValkeyClient (whose
  // pool and health check survive topology changes, and whose restart count stays in
  // server_epoch()) and what this client saw of it.
  struct NodeState {
    std::shared_ptr<ValkeyClient> client;
    std::atomic<std::uint64_t> errors{0};     // connection and timeout failures
    std::atomic<std::uint64_t> redirects{0};  // MOVED and ASK it answered
    // prefer-replica: reads pass this replica by until then, after it failed.
    std::atomic<Steady::rep> skip_reads_until{0};
  };

  NodeState& state_for(const Node& node) {
    const std::lock_guard lock{clients_mutex};
    auto& state = node_states[node.endpoint];
    if (!state) {
      state = std::make_unique<NodeState>();
      ValkeyConfig node_config = config;
      node_config.host = node.host;
      node_config.port = node.port;
      node_config.cluster = {};
      node_config.cluster.mode = ClusterMode::Off;
      ClientOptions node_options = options;
      // READONLY lets a replica serve reads and changes nothing on a primary. Every node's
      // connections send it when replicas serve reads, so that a node keeps its client when a
      // failover changes its role.
      node_options.readonly = config.cluster.read_from != ReadFrom::Primary;
      state->client = std::make_shared<ValkeyClient>(std::move(node_config), node_options);
    }
    return *state;
  }

  std::shared_ptr<ValkeyClient> client_for(const Node& node) { return state_for(node).client; }

  // The node's state when the client has one, else nullptr; makes none.
  const NodeState* known_state(std::string_view endpoint) const {
    const std::lock_guard lock{clients_mutex};
    const auto found = node_states.find(endpoint);
    return found == node_states.end() ? nullptr : found->second.get();
  }

  std::shared_ptr<const Topology> current() const {
    const std::lock_guard lock{topology_mutex};
    return topology;
  }

  // The slot map from one node: CLUSTER SHARDS where the server has it, else CLUSTER SLOTS.
  // A server that refuses SHARDS (Redis < 7.0, an ACL) is not asked again by this client.
  std::shared_ptr<Topology> read_topology(const Node& node, std::string& failures) {
    ValkeyClient& client = *client_for(node);
    if (!shards_refused.load()) {
      const Reply reply = client.command("CLUSTER", "SHARDS");
      if (!reply.is_error()) {
        try {
          return parse_cluster_shards(reply, node.host, config.tls.enabled);
        } catch (const ProtocolError& error) {
          logger->warn("{} from {}; reading CLUSTER SLOTS instead", error.what(), node.endpoint);
        }
      } else if (reply.text().starts_with("LOADING") || reply.text().starts_with("BUSY") ||
                 reply.text().starts_with("TRYAGAIN") || reply.text().starts_with("CLUSTERDOWN")) {
        failures += fmt::format("; {}: {}", node.endpoint, reply.text());
        return nullptr;  // the node is not ready: another node, or SHARDS again next time
      } else if (!shards_refused.exchange(true)) {
        logger->info("{} refuses CLUSTER SHARDS ({}); the slot map comes from CLUSTER SLOTS",
                     node.endpoint, reply.text());
      }
    }
    const Reply reply = client.command("CLUSTER", "SLOTS");
    if (reply.is_error()) {
      failures += fmt::format("; {}: {}", node.endpoint, reply.text());
      return nullptr;
    }
    return parse_cluster_slots(reply, node.host);
  }

  // Reads the slot map from a known primary, else a seed; the first answer wins.
  void refresh() {
    std::vector<Node> candidates;
    if (const auto known = current())
      candidates = known->primaries;
    for (const Node& seed : seeds) {
      if (std::none_of(candidates.begin(), candidates.end(),
                       [&](const Node& n) { return n.endpoint == seed.endpoint; }))
        candidates.push_back(seed);
    }
    std::string failures;
    for (const Node& node : candidates) {
      try {
        auto fresh = read_topology(node, failures);
        if (!fresh)
          continue;
        const std::lock_guard lock{topology_mutex};
        topology = std::move(fresh);
        last_refresh = Steady::now();
        return;
      } catch (const Error& error) {
        failures += fmt::format("; {}: {}", node.endpoint, error.what());
      }
    }
    throw ConnectionError(
        fmt::format("cluster topology: no node answered CLUSTER SHARDS or SLOTS{}", failures));
  }

  // A refresh in the background, unless one started within `interval`: the caller that saw the
  // MOVED or the failed node goes on at once, and a burst of requests starts one refresh.
  void refresh_soon(Steady::duration interval = refresh_interval) noexcept {
    {
      const std::lock_guard lock{topology_mutex};
      const auto now = Steady::now();
      if (now - last_refresh < interval || now - last_refresh_request < interval)
        return;
      last_refresh_request = now;
    }
    {
      const std::lock_guard lock{refresh_request_mutex};
      refresh_wanted = true;
    }
    refresh_requested.notify_one();
  }

  // The background refresher: one refresh per request, until the client goes.
  void run_refresher(const std::stop_token& stop) {
    for (;;) {
      {
        std::unique_lock lock{refresh_request_mutex};
        if (!refresh_requested.wait(lock, stop, [&] { return refresh_wanted; }))
          return;
        refresh_wanted = false;
      }
      const DeadlineScope scope{Steady::now() + config.connect_timeout + config.socket_timeout};
      try {
        refresh();
      } catch (const Error& error) {
        logger->warn("cluster topology refresh failed: {}", error.what());
      }
    }
  }

  // A refresh on this thread, which needs the map now, unless one ran within `interval`;
  // concurrent callers coalesce into one, run by the caller that wins the try-lock.
  void refresh_here(Steady::duration interval = refresh_interval) noexcept {
    std::unique_lock guard{refresh_mutex, std::try_to_lock};
    if (!guard.owns_lock())
      return;
    {
      const std::lock_guard lock{topology_mutex};
      if (Steady::now() - last_refresh < interval)
        return;
    }
    try {
      refresh();
    } catch (const Error& error) {
      logger->warn("cluster topology refresh failed: {}", error.what());
    }
  }

  // MOVED: the slot is served elsewhere now. Patch the map at once, and read it whole soon.
  void moved(const Redirect& redirect) {
    {
      const std::lock_guard lock{topology_mutex};
      auto patched = std::make_shared<Topology>(*topology);
      const std::string endpoint = endpoint_of(redirect.host, redirect.port);
      auto found = std::find_if(patched->primaries.begin(), patched->primaries.end(),
                                [&](const Node& n) { return n.endpoint == endpoint; });
      std::int16_t index = 0;
      if (found == patched->primaries.end()) {
        index = static_cast<std::int16_t>(patched->primaries.size());
        patched->primaries.push_back({redirect.host, redirect.port, endpoint});
        patched->replicas.emplace_back();
      } else {
        index = static_cast<std::int16_t>(found - patched->primaries.begin());
      }
      patched->owner[redirect.slot] = index;
      topology = std::move(patched);
    }
    ++redirect_count;
    refresh_soon();
  }

  // The slot map, read now if it never was (the cluster was down when the client was made).
  std::shared_ptr<const Topology> known_topology() {
    if (auto known = current())
      return known;
    refresh();
    return current();
  }

  Node primary_for(std::optional<std::uint16_t> slot) {
    auto known = known_topology();
    if (!slot)
      return known->primaries.front();
    const std::int16_t owner = known->owner[*slot];
    if (owner < 0) {
      refresh_here();
      known = current();
      if (known->owner[*slot] < 0)
        throw ConnectionError(fmt::format("cluster: no node serves slot {}", *slot));
      return known->primaries[static_cast<std::size_t>(known->owner[*slot])];
    }
    return known->primaries[static_cast<std::size_t>(owner)];
  }

  // The node that serves a read of `slot`: under VALKEY_READ_FROM=replica or prefer-replica a
  // replica of the slot's primary that the cluster reports online (in turn, round-robin), else
  // the primary. prefer-replica also passes by a replica that failed within
  // failed_replica_pause.
  Route reader_for(std::uint16_t slot) {
    const ReadFrom read_from = config.cluster.read_from;
    const Node primary = primary_for(slot);
    if (read_from == ReadFrom::Primary)
      return {primary, false};
    auto known = current();
    const std::int16_t owner = known->owner[slot];
    if (owner < 0 || known->primaries[static_cast<std::size_t>(owner)].endpoint != primary.endpoint)
      return {primary, false};
    const auto& replicas = known->replicas[static_cast<std::size_t>(owner)];
    const auto now = Steady::now().time_since_epoch().count();
    std::vector<const Node*> ready;
    bool waiting = false;  // a replica the cluster does not report online (yet, or again)
    for (const Node& replica : replicas) {
      if (replica.health != "online") {
        waiting = true;
        continue;
      }
      const NodeState* state = known_state(replica.endpoint);
      if (read_from == ReadFrom::PreferReplica && state && state->skip_reads_until.load() > now)
        continue;
      ready.push_back(&replica);
    }
    // A replica catching up, or back from a failure, becomes readable without any event the
    // client sees: look again now and then, as the map is read only after MOVED and failures.
    if (waiting)
      refresh_soon(replica_recheck_interval);
    if (ready.empty())
      return {primary, false};
    return {*ready[next_replica.fetch_add(1) % ready.size()], true};
  }

  // A connection or timeout failure of `node`, counted; under prefer-replica a replica is
  // passed by for reads for a while.
  void note_failure(const Node& node, bool replica) {
    NodeState& state = state_for(node);
    ++state.errors;
    if (replica && config.cluster.read_from == ReadFrom::PreferReplica) {
      state.skip_reads_until = (Steady::now() + failed_replica_pause).time_since_epoch().count();
    }
  }

  // prefer-replica: a replica read gets half of the call's time left, so that a hung replica
  // leaves the other half to the primary.
  void limit_replica_read(std::optional<DeadlineScope>& budget, const Route& route) const {
    if (!route.replica || config.cluster.read_from != ReadFrom::PreferReplica)
      return;
    const auto now = Steady::now();
    budget.emplace(now + (DeadlineScope::bound(now, config.socket_timeout) - now) / 2);
  }

  // A node that did not answer (as opposed to one that refused or answered an error).
  static bool is_node_failure(const Error& error) {
    return error.category() == ErrorCategory::Connection ||
           error.category() == ErrorCategory::Timeout;
  }

  // Waits a little before trying again (TRYAGAIN, CLUSTERDOWN, a failed node), never past the
  // call's deadline. Returns false when no time is left.
  static bool pause_before_retry(int attempt) {
    const auto delay = std::chrono::milliseconds{std::min(10 << attempt, 200)};
    const auto deadline = DeadlineScope::current();
    if (deadline && Steady::now() + delay >= *deadline)
      return false;
    std::this_thread::sleep_for(delay);
    return true;
  }

  // Runs `send` on the primary of `slot` (for a `read`, on the node reader_for() picks),
  // following redirects and riding out failovers within the deadline. `send(client, asking)`
  // sends the command (after ASKING when `asking`).
  template <class Send>
  Reply routed(std::optional<std::uint16_t> slot, std::string_view operation, Send&& send,
               bool read = false) {
    const DeadlineScope scope{DeadlineScope::bound(Steady::now(), config.socket_timeout)};
    std::optional<Node> target;
    bool asking = false;
    int busy_attempts = 0;
    for (int redirects_followed = 0;;) {
      const Route route = target         ? Route{*target, false}
                          : read && slot ? reader_for(*slot)
                                         : Route{primary_for(slot), false};
      const Node& node = route.node;
      Reply reply;
      try {
        std::optional<DeadlineScope> replica_budget;
        limit_replica_read(replica_budget, route);
        reply = send(*client_for(node), asking);
      } catch (const RefusedError&) {
        throw;
      } catch (const Error& error) {
        if (!is_node_failure(error))
          throw;
        note_failure(node, route.replica);
        if (route.replica && config.cluster.read_from == ReadFrom::PreferReplica) {
          logger->debug("{} on replica {} failed ({}); reading from the primary", operation,
                        node.endpoint, error.what());
          refresh_soon();  // the cluster may have marked it failed by now
          continue;        // reader_for() now passes this replica by
        }
        // The node may be gone for good (a failover): read the map again and retry where it
        // now says, while time is left.
        refresh_soon();
        if (!pause_before_retry(busy_attempts++))
          throw;
        target.reset();
        asking = false;
        continue;
      }
      if (const auto redirect = redirect_of(reply)) {
        ++state_for(node).redirects;
        if (++redirects_followed > max_redirects) {
          throw ReplyError(fmt::format(
              "{}: more than {} cluster redirects (last: {}); the cluster disagrees about slot {}",
              operation, max_redirects, reply.text(), redirect->slot));
        }
        if (redirect->ask) {
          ++redirect_count;
          target =
              Node{redirect->host, redirect->port, endpoint_of(redirect->host, redirect->port)};
          asking = true;  // once, on the target, without touching the map
        } else {
          moved(*redirect);
          target.reset();
          asking = false;
        }
        continue;
      }
      if (is_busy_reply(reply)) {
        if (pause_before_retry(busy_attempts++)) {
          target.reset();
          asking = false;
          continue;
        }
        // Still down when the time is up: an outage, as an unreachable server is, not an
        // answer; the CacheManager degrades on it instead of taking it for a refused command.
        throw ConnectionError(fmt::format("{} on the cluster: {}", operation, reply.text()));
      }
      return reply;
    }
  }

  Reply execute_one(const Argv& argv) {
    const auto keys = keys_of(argv);
    const auto slot = single_slot(fmt::format("ClusterClient {}", argv[0]), keys);
    return routed(
        slot, argv[0],
        [&](ValkeyClient& client, bool asking) {
          if (!asking)
            return client.execute(CommandArgs{argv});
          Pipeline pipeline;
          pipeline.add("ASKING").add(std::span<const std::string_view>{argv});
          return std::move(client.execute(pipeline).at(1));
        },
        is_replica_read(argv[0]));
  }

  // MGET, DEL, UNLINK, EXISTS, TOUCH and MSET over several slots: one command per slot,
  // pipelined per node, results in the caller's order.
  Reply execute_split(const Argv& argv) {
    const std::string_view name = argv[0];
    const bool pairs = is_one_of(name, {"MSET"});
    const std::size_t step = pairs ? 2 : 1;
    std::map<std::uint16_t, std::vector<std::size_t>> by_slot;  // slot -> argument positions
    for (std::size_t i = 1; i + step - 1 < argv.size(); i += step)
      by_slot[cluster_slot(argv[i])].push_back(i);
    if (by_slot.size() <= 1)
      return execute_one(argv);
    // One command per slot, and one round trip per node for that node's commands. A command
    // whose slot moved meanwhile comes back as MOVED/ASK and is sent again on its own, with the
    // redirect rules of execute_one().
    const bool read = is_replica_read(name);
    std::vector<Argv> parts;                                    // one command per slot
    std::vector<const std::vector<std::size_t>*> positions_of;  // its arguments' positions
    std::map<std::string, std::pair<Route, std::vector<std::size_t>>> by_node;
    for (const auto& [slot, positions] : by_slot) {
      Argv part{name};
      for (const std::size_t at : positions) {
        part.push_back(argv[at]);
        if (pairs)
          part.push_back(argv[at + 1]);
      }
      const Route route = read ? reader_for(slot) : Route{primary_for(slot), false};
      auto& entry = by_node[route.node.endpoint];
      entry.first = route;
      entry.second.push_back(parts.size());
      parts.push_back(std::move(part));
      positions_of.push_back(&positions);
    }
    std::vector<Reply> part_replies(parts.size());
    for (const auto& [endpoint, entry] : by_node)
      send_to_node(entry.first, entry.second, parts, part_replies);
    std::vector<Reply> element_replies(argv.size());
    long long total = 0;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      Reply& reply = part_replies[i];
      if (reply.is_error())
        return std::move(reply);
      const auto& positions = *positions_of[i];
      if (equals_upper(name, "MGET")) {
        for (std::size_t k = 0; k < positions.size() && k < reply.elements().size(); ++k)
          element_replies[positions[k]] = std::move(reply.elements()[k]);
      } else if (reply.is_integer()) {
        total += reply.as_integer();
      }
    }
    if (equals_upper(name, "MGET")) {
      std::vector<Reply> values;
      for (std::size_t i = 1; i < argv.size(); ++i)
        values.push_back(std::move(element_replies[i]));
      return Reply::array(std::move(values));
    }
    if (pairs)
      return Reply::status("OK");
    return Reply::integer(total);
  }

  // A pipeline: each command of one slot goes to its node, and the commands of one node share
  // one round trip, in the caller's order among them. A command that comes back redirected or
  // busy, or whose node failed, is sent again on its own with execute_one()'s rules. A command
  // that is not of one slot (a split MGET, SCAN, a keyless command) first sends what is queued,
  // then runs on its own, so that commands on the same key keep their order.
  std::vector<Reply> execute_pipeline(const std::vector<Argv>& commands) {
    // Every command is checked before any is sent (keys of a script in several slots throw).
    std::vector<std::optional<std::uint16_t>> slots;
    slots.reserve(commands.size());
    for (const Argv& argv : commands) {
      const auto keys = keys_of(argv);
      if (is_split_by_key(argv[0]) ||
          is_one_of(argv[0], {"MSET", "SCAN", "DBSIZE", "FLUSHDB", "FLUSHALL"})) {
        slots.emplace_back();  // on its own
      } else {
        slots.push_back(single_slot(fmt::format("ClusterClient {}", argv[0]), keys));
      }
    }
    std::vector<Reply> replies(commands.size());
    std::map<std::string, std::pair<Route, std::vector<std::size_t>>> queued;  // by node
    const auto send_queued = [&] {
      for (auto& [endpoint, entry] : queued)
        send_to_node(entry.first, entry.second, commands, replies);
      queued.clear();
    };
    for (std::size_t i = 0; i < commands.size(); ++i) {
      if (!slots[i]) {
        send_queued();
        replies[i] = execute_alone(commands[i]);
        continue;
      }
      const Route route = is_replica_read(commands[i][0]) ? reader_for(*slots[i])
                                                          : Route{primary_for(*slots[i]), false};
      auto& entry = queued[route.node.endpoint];
      entry.first = route;
      entry.second.push_back(i);
    }
    send_queued();
    return replies;
  }

  // One round trip to `route`'s node for the commands at `positions`; see execute_pipeline().
  void send_to_node(const Route& route, const std::vector<std::size_t>& positions,
                    const std::vector<Argv>& commands, std::vector<Reply>& replies) {
    if (positions.size() == 1) {
      replies[positions.front()] = execute_one(commands[positions.front()]);
      return;
    }
    Pipeline pipeline;
    for (const std::size_t at : positions)
      pipeline.add(std::span<const std::string_view>{commands[at]});
    std::vector<Reply> answered;
    try {
      // The commands sent again alone below still have time to reach the primary.
      std::optional<DeadlineScope> replica_budget;
      limit_replica_read(replica_budget, route);
      answered = client_for(route.node)->execute(pipeline);
    } catch (const RefusedError&) {
      throw;
    } catch (const Error& error) {
      if (!is_node_failure(error))
        throw;
      note_failure(route.node, route.replica);
      answered.clear();  // the node failed: each command alone, with failover handling
    }
    for (std::size_t i = 0; i < positions.size(); ++i) {
      const bool usable =
          i < answered.size() && !redirect_of(answered[i]) && !is_busy_reply(answered[i]);
      if (!usable && i < answered.size() && redirect_of(answered[i]))
        ++state_for(route.node).redirects;
      replies[positions[i]] = usable ? std::move(answered[i]) : execute_one(commands[positions[i]]);
    }
  }

  // One command with every routing rule: SCAN, commands on every primary, split commands.
  Reply execute_alone(const Argv& argv) {
    if (equals_upper(argv[0], "SCAN"))
      return execute_scan(argv);
    if (is_one_of(argv[0], {"DBSIZE", "FLUSHDB", "FLUSHALL"}))
      return execute_everywhere(argv);
    if (is_split_by_key(argv[0]) || equals_upper(argv[0], "MSET"))
      return execute_split(argv);
    return execute_one(argv);
  }

  // SCAN over every primary under one cursor "<primary>-<cursor>", "0" at both ends.
  Reply execute_scan(const Argv& argv) {
    const auto known = known_topology();
    std::size_t node = 0;
    std::string cursor = "0";
    if (argv.size() >= 2 && argv[1] != "0") {
      const auto dash = argv[1].find('-');
      if (dash == std::string_view::npos)
        throw std::invalid_argument(
            fmt::format("ClusterClient SCAN: cursor '{}' is not one this "
                        "client returned",
                        argv[1]));
      std::from_chars(argv[1].data(), argv[1].data() + dash, node);
      cursor = std::string{argv[1].substr(dash + 1)};
    }
    if (node >= known->primaries.size())
      return Reply::array({Reply::string("0"), Reply::array({})});
    Argv part(argv.begin(), argv.end());
    part[1] = cursor;
    Reply reply = client_for(known->primaries[node])->execute(CommandArgs{part});
    if (!reply.is_array() || reply.elements().size() != 2)
      return reply;
    std::string next = reply.elements()[0].text();
    if (next == "0")
      next = node + 1 < known->primaries.size() ? fmt::format("{}-0", node + 1) : "0";
    else
      next = fmt::format("{}-{}", node, next);
    return Reply::array({Reply::string(std::move(next)), std::move(reply.elements()[1])});
  }

  // DBSIZE and FLUSHDB concern every primary.
  Reply execute_everywhere(const Argv& argv) {
    long long total = 0;
    for (const Node& node : known_topology()->primaries) {
      Reply reply = client_for(node)->execute(CommandArgs{argv});
      if (reply.is_error())
        return reply;
      if (reply.is_integer())
        total += reply.as_integer();
    }
    return equals_upper(argv[0], "DBSIZE") ? Reply::integer(total) : Reply::status("OK");
  }

  ValkeyConfig config;
  ClientOptions options;
  std::shared_ptr<spdlog::logger> logger;
  std::vector<Node> seeds;

  mutable std::mutex topology_mutex;
  std::shared_ptr<const Topology> topology;
  Steady::time_point last_refresh{};
  Steady::time_point last_refresh_request{};
  std::mutex refresh_mutex;
  std::mutex refresh_request_mutex;
  std::condition_variable_any refresh_requested;
  bool refresh_wanted = false;
  std::atomic<std::uint64_t> redirect_count{0};

  std::atomic<bool> shards_refused{false};  // the server has no CLUSTER SHARDS: ask SLOTS
  std::atomic<std::size_t> next_replica{0};

  mutable std::mutex clients_mutex;
  std::map<std::string, std::unique_ptr<NodeState>, std::less<>> node_states;

  // Last: stopped and joined before anything it uses is destroyed.
  std::jthread refresher;
};

namespace {
ValkeyConfig validated_cluster(ValkeyConfig config) {
  config.validate();
  if (config.database != 0) {
    throw ConfigError(fmt::format("VALKEY_DATABASE={}: {} is a cluster, which has only database 0",
                                  config.database, config.endpoint()));
  }
  return config;
}
}  // namespace

ClusterClient::ClusterClient(ValkeyConfig config, ClientOptions options)
    : impl_{std::make_unique<Impl>(validated_cluster(std::move(config)), std::move(options))} {
  // Like the standalone client, it may be made while the servers are down: the first command
  // reads the map then, and fails as any command to an unreachable server does.
  try {
    impl_->refresh();
  } catch (const Error& error) {
    impl_->logger->warn("cluster slot map not read yet: {}", error.what());
  }
  impl_->refresher = std::jthread{
      [impl = impl_.get()](const std::stop_token& stop) { impl->run_refresher(stop); }};
}

ClusterClient::~ClusterClient() = default;

Reply ClusterClient::execute(CommandArgs argv) {
  if (argv.empty())
    throw std::invalid_argument("ClusterClient::execute: empty command");
  detail::refuse_own_connection_command("ClusterClient::execute", argv[0]);
  return impl_->execute_alone(Argv(argv.begin(), argv.end()));
}

std::vector<Reply> ClusterClient::execute(const Pipeline& pipeline) {
  const std::vector<Argv> commands = decode_commands(pipeline.encoded());
  for (const Argv& argv : commands) {
    if (argv.empty())
      throw std::invalid_argument("ClusterClient::execute: empty command in a pipeline");
    detail::refuse_own_connection_command("ClusterClient::execute", argv[0]);
  }
  return impl_->execute_pipeline(commands);
}

std::optional<std::vector<Reply>> ClusterClient::transaction(const Pipeline& pipeline) {
  std::vector<std::string_view> keys;
  for (const Argv& argv : decode_commands(pipeline.encoded())) {
    const auto command_keys = keys_of(argv);
    keys.insert(keys.end(), command_keys.begin(), command_keys.end());
  }
  const auto slot = single_slot("ClusterClient::transaction", keys);
  std::optional<std::vector<Reply>> result;
  (void)impl_->routed(slot, "EXEC", [&](ValkeyClient& client, bool asking) {
    if (asking) {
      Pipeline with_asking;
      with_asking.add("ASKING");
      (void)client.execute(with_asking);
    }
    try {
      result = client.transaction(pipeline);
    } catch (const ReplyError& error) {
      // A queued command refused with MOVED/ASK (the slot moved): redirect the whole
      // transaction, nothing of it ran.
      const std::string text = error.what();
      const auto at =
          text.find("MOVED ") != std::string::npos ? text.find("MOVED ") : text.find("ASK ");
      if (at != std::string::npos)
        return Reply::error(text.substr(at));
      throw;
    }
    return Reply::status("OK");
  });
  return result;
}

std::unique_ptr<Session> ClusterClient::session() {
  return std::make_unique<NodeSession>([this](std::optional<std::uint16_t> slot) {
    return impl_->client_for(impl_->primary_for(slot))->session();
  });
}

HealthStatus ClusterClient::health() const {
  HealthStatus combined;
  const auto known = impl_->current();
  combined.up = known != nullptr;
  for (const Node& node : known ? known->primaries : std::vector<Node>{}) {
    const HealthStatus status = impl_->client_for(node)->health();
    // A node not checked yet is unknown, not down.
    combined.up = combined.up && (status.up || status.checks == 0);
    combined.round_trip = std::max(combined.round_trip, status.round_trip);
    if (!status.last_error.empty() && combined.last_error.empty())
      combined.last_error = node.endpoint + ": " + status.last_error;
    if (!status.refusal.empty() && combined.refusal.empty())
      combined.refusal = status.refusal;
    combined.server_name = status.server_name;
    combined.server_version = status.server_version;
    combined.last_check = std::max(combined.last_check, status.last_check);
    combined.checks += status.checks;
    combined.failed_checks += status.failed_checks;
    combined.pool_open += status.pool_open;
    combined.pool_idle += status.pool_idle;
  }
  combined.role = "cluster";
  return combined;
}

std::string ClusterClient::endpoint() const {
  std::string list;
  for (const auto& seed : impl_->seeds)
    list += (list.empty() ? "" : ",") + seed.endpoint;
  return list;
}

std::uint64_t ClusterClient::server_epoch() const noexcept {
  const std::lock_guard lock{impl_->clients_mutex};
  std::uint64_t epoch = 0;
  for (const auto& [endpoint, state] : impl_->node_states)
    epoch += state->client->server_epoch();
  return epoch;
}

std::string ClusterClient::shard_of(std::string_view key) const {
  const auto known = impl_->current();
  if (!known)
    return {};
  const std::int16_t owner = known->owner[cluster_slot(key)];
  return owner < 0 ? std::string{} : known->primaries[static_cast<std::size_t>(owner)].endpoint;
}

std::vector<ClusterNodeStatus> ClusterClient::nodes() const {
  std::vector<ClusterNodeStatus> result;
  const auto known = impl_->current();
  if (!known)
    return result;
  const auto status_of = [&](const Node& node, std::string role, std::size_t slots,
                             const Impl::NodeState* state) {
    ClusterNodeStatus status{node.endpoint, std::move(role), slots, {}, node.health};
    if (state) {
      status.health = state->client->health();
      status.errors = state->errors.load();
      status.redirects = state->redirects.load();
    }
    return status;
  };
  for (std::size_t i = 0; i < known->primaries.size(); ++i) {
    const Node& node = known->primaries[i];
    const auto slots = static_cast<std::size_t>(
        std::count(known->owner.begin(), known->owner.end(), static_cast<std::int16_t>(i)));
    result.push_back(status_of(node, "primary", slots, &impl_->state_for(node)));
  }
  for (const auto& replicas : known->replicas)
    for (const Node& node : replicas)
      result.push_back(status_of(node, "replica", 0, impl_->known_state(node.endpoint)));
  return result;
}

void ClusterClient::refresh_topology() {
  impl_->refresh();
}

std::uint64_t ClusterClient::redirects() const noexcept {
  return impl_->redirect_count.load();
}

namespace {
void warn_undecided(const ValkeyConfig& config, const ClientOptions& options, const Error& error) {
  resolve_logger(options.logger, config.log_level)
      ->warn(
          "cannot tell whether {} is a cluster ({}); using the standalone client. Set "
          "VALKEY_CLUSTER=true or false to decide without asking",
          config.endpoint(), error.what());
}
}  // namespace

std::shared_ptr<Client> make_client(ValkeyConfig config, ClientOptions options) {
  config.validate();
  if (config.cluster.mode == ClusterMode::On)
    return std::make_shared<ClusterClient>(std::move(config), std::move(options));
  if (config.cluster.mode == ClusterMode::Off)
    return std::make_shared<ValkeyClient>(std::move(config), std::move(options));
  // Auto: ask the first node that answers whether cluster mode is on. With database 0 the
  // standalone client this may return asks, so its connection (handshake and INFO in one round
  // trip) serves the first command too; another database would be SELECTed first, and a
  // cluster refuses SELECT.
  bool cluster = false;
  bool answered = false;
  if (config.database == 0) {
    auto client = std::make_shared<ValkeyClient>(config, options);
    try {
      const DeadlineScope scope{Steady::now() + config.connect_timeout + config.socket_timeout};
      static constexpr std::array<std::string_view, 2> info_cluster{"INFO", "cluster"};
      const Reply reply = client->execute_unobserved(info_cluster);
      cluster = reply.is_string() && reply.text().find("cluster_enabled:1") != std::string::npos;
    } catch (const Error& error) {
      warn_undecided(config, options, error);
    }
    if (!cluster)
      return client;
    client.reset();
    return std::make_shared<ClusterClient>(std::move(config), std::move(options));
  }
  try {
    ValkeyConfig probe = config;
    probe.cluster = {};
    probe.cluster.mode = ClusterMode::Off;
    probe.database = 0;
    ValkeyClient client{probe, {.logger = options.logger, .health_check = false}};
    const DeadlineScope scope{Steady::now() + config.connect_timeout + config.socket_timeout};
    cluster = client.info("cluster").find("cluster_enabled:1") != std::string::npos;
    answered = true;
  } catch (const Error& error) {
    warn_undecided(config, options, error);
  }
  if (answered && cluster)
    return std::make_shared<ClusterClient>(std::move(config), std::move(options));
  return std::make_shared<ValkeyClient>(std::move(config), std::move(options));
}

}  // namespace airport::cache

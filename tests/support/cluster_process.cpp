// SPDX-License-Identifier: BSD-3-Clause
#include "support/cluster_process.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "support/raw_client.hpp"
#include "support/wait.hpp"

namespace airport::cache::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kSlotCount = 16384;
// How often the waits ask every node again. A cluster's own clock ticks every 100 ms
// (clusterCron), so polling faster than this would only cost CPU the nodes need.
constexpr auto kPoll = 20ms;
// One admin command; a node that does not answer within this is treated as unreachable.
constexpr auto kCommandTimeout = 1s;
// MIGRATE's own timeout for reaching the target, and the RawClient's for the whole command.
constexpr auto kMigrateTimeout = 5s;
constexpr std::size_t kMigrateBatch = 100;
constexpr auto kFinishMigrationTimeout = 10s;

std::string where(const ServerProcess& node) {
  return node.host() + ":" + std::to_string(node.port());
}

RawClient admin(const ServerProcess& node, std::chrono::milliseconds timeout = kCommandTimeout) {
  return RawClient(node.host(), node.port(), {}, {}, timeout);
}

bool is_error(const std::string& reply) {
  return reply.rfind("(error) ", 0) == 0;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) {
    if (!part.empty() && part.back() == '\r') {
      part.pop_back();
    }
    if (!part.empty()) {
      parts.push_back(part);
    }
  }
  return parts;
}

void expect_ok(const std::string& reply, const std::string& what, const ServerProcess& node) {
  if (reply != "OK") {
    throw std::runtime_error("ClusterProcess: " + what + " on " + where(node) + " answered " +
                             reply);
  }
}

// One line of CLUSTER NODES: "<id> <ip:port@cport[,hostname]> <flags> <primary id or ->
// <ping-sent> <pong-recv> <config-epoch> <link-state> <slot or range>...", where an open
// migration shows as "[slot->-id]" or "[slot-<-id]".
struct NodeEntry {
  std::string id;
  int port = 0;
  std::vector<std::string> flags;
  std::string primary_id;
  std::vector<std::pair<int, int>> slots;
  bool open_slot = false;

  [[nodiscard]] bool has(std::string_view flag) const {
    return std::find(flags.begin(), flags.end(), flag) != flags.end();
  }
  [[nodiscard]] bool is_primary() const { return has("master"); }
  [[nodiscard]] bool owns(int slot) const {
    return std::any_of(slots.begin(), slots.end(), [&](const auto& range) {
      return range.first <= slot && slot <= range.second;
    });
  }
  // Whether this node's holder believes it is down or not yet known.
  [[nodiscard]] bool troubled() const {
    return has("fail") || has("fail?") || has("handshake") || has("noaddr");
  }
};

using View = std::vector<NodeEntry>;

View parse_cluster_nodes(const std::string& text) {
  View view;
  for (const auto& line : split(text, '\n')) {
    const auto fields = split(line, ' ');
    if (fields.size() < 8) {
      throw std::runtime_error("ClusterProcess: cannot parse a CLUSTER NODES line: " + line);
    }
    NodeEntry entry;
    entry.id = fields[0];
    const auto& address = fields[1];
    const auto at = address.find('@');
    const auto colon = address.rfind(':', at);
    if (colon != std::string::npos) {
      entry.port = std::atoi(address.substr(colon + 1, at - colon - 1).c_str());
    }
    entry.flags = split(fields[2], ',');
    entry.primary_id = fields[3] == "-" ? std::string{} : fields[3];
    for (std::size_t i = 8; i < fields.size(); ++i) {
      const auto& slot = fields[i];
      if (slot.front() == '[') {
        entry.open_slot = true;
        continue;
      }
      const auto dash = slot.find('-');
      const int first = std::atoi(slot.substr(0, dash).c_str());
      const int last = dash == std::string::npos ? first : std::atoi(slot.substr(dash + 1).c_str());
      entry.slots.emplace_back(first, last);
    }
    view.push_back(std::move(entry));
  }
  return view;
}

const NodeEntry* find_entry(const View& view, std::string_view id) {
  const auto found =
      std::find_if(view.begin(), view.end(), [&](const NodeEntry& e) { return e.id == id; });
  return found == view.end() ? nullptr : &*found;
}

const NodeEntry* myself(const View& view) {
  const auto found =
      std::find_if(view.begin(), view.end(), [](const NodeEntry& e) { return e.has("myself"); });
  return found == view.end() ? nullptr : &*found;
}

const NodeEntry* owner_of(const View& view, int slot) {
  const auto found = std::find_if(
      view.begin(), view.end(), [&](const NodeEntry& e) { return e.is_primary() && e.owns(slot); });
  return found == view.end() ? nullptr : &*found;
}

// What one node says, or why it said nothing.
struct Snapshot {
  const ServerProcess* node = nullptr;
  std::string error;
  std::string cluster_info;
  std::string cluster_nodes;
  std::string replication;
  View view;

  [[nodiscard]] bool reachable() const { return error.empty(); }
};

Snapshot take_snapshot(const ServerProcess& node, bool with_info) {
  Snapshot snapshot;
  snapshot.node = &node;
  try {
    auto client = admin(node);
    snapshot.cluster_nodes = client.command({"CLUSTER", "NODES"});
    if (is_error(snapshot.cluster_nodes)) {
      snapshot.error = "CLUSTER NODES answered " + snapshot.cluster_nodes;
      return snapshot;
    }
    snapshot.view = parse_cluster_nodes(snapshot.cluster_nodes);
    if (with_info) {
      snapshot.cluster_info = client.command({"CLUSTER", "INFO"});
      snapshot.replication = client.command({"INFO", "replication"});
    }
  } catch (const std::exception& e) {
    snapshot.error = e.what();
  }
  return snapshot;
}

// The slot owners and the roles of the given nodes, as one string that two nodes agree on
// exactly when their views agree. Link states, ping times and epochs are left out: they differ
// between nodes all the time.
std::string topology_signature(const View& view, const std::set<std::string>& ids) {
  std::vector<std::pair<std::pair<int, int>, std::string>> ranges;
  for (const auto& entry : view) {
    if (entry.is_primary()) {
      for (const auto& range : entry.slots) {
        ranges.emplace_back(range, entry.id);
      }
    }
  }
  std::sort(ranges.begin(), ranges.end());
  std::string signature;
  for (const auto& [range, id] : ranges) {
    signature += std::to_string(range.first) + "-" + std::to_string(range.second) + "@" +
                 id.substr(0, 8) + " ";
  }
  signature += "|";
  for (const auto& id : ids) {
    const auto* entry = find_entry(view, id);
    signature += " " + id.substr(0, 8) +
                 (entry == nullptr      ? std::string("=unknown")
                  : entry->is_primary() ? std::string("=primary")
                                        : ">" + entry->primary_id.substr(0, 8));
  }
  return signature;
}

std::string describe(const Snapshot& snapshot) {
  std::string text = "\n--- " + where(*snapshot.node) + " (pid " +
                     std::to_string(snapshot.node->pid()) + ") ---\n";
  if (!snapshot.reachable()) {
    text += "unreachable: " + snapshot.error + "\n";
  } else {
    text += "CLUSTER INFO:\n" + snapshot.cluster_info + "\nCLUSTER NODES:\n" +
            snapshot.cluster_nodes + "\n";
  }
  text += "log tail:\n" + snapshot.node->log_tail(10);
  return text;
}

void check_slot(int slot) {
  if (slot < 0 || slot >= kSlotCount) {
    throw std::invalid_argument("ClusterProcess: slot " + std::to_string(slot) +
                                " is outside 0-16383");
  }
}

std::string millis(std::chrono::milliseconds duration) {
  return std::to_string(duration.count()) + " ms";
}

}  // namespace

ClusterProcess::ClusterProcess(ClusterOptions options) : options_(std::move(options)) {
  if (options_.primaries < 1) {
    throw std::invalid_argument("ClusterOptions::primaries must be at least 1");
  }
  if (options_.replicas_per_primary < 0) {
    throw std::invalid_argument("ClusterOptions::replicas_per_primary must not be negative");
  }
  if (options_.node_timeout <= 0ms) {
    throw std::invalid_argument("ClusterOptions::node_timeout must be positive");
  }
  const auto started = Clock::now();
  form();
  formation_time_ = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
}

// The members' destructors do the work: each ServerProcess kills its node by pid.
ClusterProcess::~ClusterProcess() = default;

void ClusterProcess::form() {
  const int total = options_.primaries * (1 + options_.replicas_per_primary);
  const auto give_up_at = Clock::now() + options_.ready_timeout;
  const auto remaining = [&] {
    return std::max(
        0ms, std::chrono::duration_cast<std::chrono::milliseconds>(give_up_at - Clock::now()));
  };

  // A primary waits repl-diskless-sync-delay (5 s) for more replicas before it starts a full
  // sync; each of ours has its replicas attached at once, so waiting only slows formation.
  std::vector<std::string> args{"--repl-diskless-sync-delay", "0"};
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  // Nodes start one after another: each ServerProcess must be created on this thread (its
  // PR_SET_PDEATHSIG follows the creating thread), and a start costs a few milliseconds.
  for (int i = 0; i < total; ++i) {
    nodes_.push_back(std::make_unique<ServerProcess>(ServerOptions{
        .extra_args = args, .cluster = ClusterNodeOptions{.node_timeout = options_.node_timeout}}));
  }
  for (const auto& node : nodes_) {
    auto client = admin(*node);
    const auto info = client.command({"INFO", "cluster"});
    if (info_field(info, "cluster_enabled") != "1") {
      throw std::runtime_error("ClusterProcess: " + node->binary() + " on " + where(*node) +
                               " lacks cluster support: INFO cluster answered " + info);
    }
    ids_.push_back(client.command({"CLUSTER", "MYID"}));
  }

  // Slots in equal ranges, the first primary's starting at 0, as redis-cli splits them.
  for (int i = 0; i < options_.primaries; ++i) {
    const int first = i * kSlotCount / options_.primaries;
    const int last = (i + 1) * kSlotCount / options_.primaries - 1;
    auto client = admin(*nodes_[i]);
    expect_ok(
        client.command({"CLUSTER", "ADDSLOTSRANGE", std::to_string(first), std::to_string(last)}),
        "CLUSTER ADDSLOTSRANGE", *nodes_[i]);
  }
  // Distinct config epochs up front, as redis-cli gives them, so that the nodes need no
  // collision-resolution rounds before they agree on who owns what.
  for (int i = 0; i < total; ++i) {
    auto client = admin(*nodes_[i]);
    expect_ok(client.command({"CLUSTER", "SET-CONFIG-EPOCH", std::to_string(i + 1)}),
              "CLUSTER SET-CONFIG-EPOCH", *nodes_[i]);
  }
  // Every pair meets directly instead of learning of each other through gossip, which would
  // take a few more 100 ms cron ticks.
  for (int i = 0; i < total; ++i) {
    auto client = admin(*nodes_[i]);
    for (int j = i + 1; j < total; ++j) {
      expect_ok(
          client.command({"CLUSTER", "MEET", nodes_[j]->host(), std::to_string(nodes_[j]->port()),
                          std::to_string(nodes_[j]->cluster_port())}),
          "CLUSTER MEET " + where(*nodes_[j]), *nodes_[i]);
    }
  }

  // Replica k of primary i is node primaries + i * replicas_per_primary + k. A node can only
  // replicate a node it knows by id, which takes a handshake: until then REPLICATE answers
  // "Unknown node".
  std::vector<bool> attached(static_cast<std::size_t>(total), false);
  std::string last_refusal;
  const bool replicas_attached = wait_until(
      [&] {
        bool all = true;
        for (int r = options_.primaries; r < total; ++r) {
          if (attached[static_cast<std::size_t>(r)]) {
            continue;
          }
          const int primary = (r - options_.primaries) / options_.replicas_per_primary;
          const auto reply =
              admin(*nodes_[r])
                  .command({"CLUSTER", "REPLICATE", ids_[static_cast<std::size_t>(primary)]});
          if (reply == "OK") {
            attached[static_cast<std::size_t>(r)] = true;
            continue;
          }
          if (reply.find("Unknown node") == std::string::npos) {
            throw std::runtime_error("ClusterProcess: CLUSTER REPLICATE on " + where(*nodes_[r]) +
                                     " answered " + reply + "; log tail:\n" +
                                     nodes_[r]->log_tail(10));
          }
          last_refusal = where(*nodes_[r]) + " answered " + reply;
          all = false;
        }
        return all;
      },
      remaining(), kPoll);
  if (!replicas_attached) {
    throw std::runtime_error("ClusterProcess: a replica did not learn its primary's id within " +
                             millis(options_.ready_timeout) + ": " + last_refusal);
  }
  // Every node must take part at formation; later a paused node is left out, as a killed one
  // is.
  if (const auto problem = health_problem(remaining(), true)) {
    throw std::runtime_error("ClusterProcess: the cluster formed by " + nodes_[0]->binary() +
                             " was not ok within " + millis(options_.ready_timeout) +
                             " (ClusterOptions::ready_timeout): " + *problem);
  }
}

std::vector<ServerProcess*> ClusterProcess::nodes() const {
  std::vector<ServerProcess*> all;
  for (const auto& node : nodes_) {
    all.push_back(node.get());
  }
  return all;
}

ServerProcess& ClusterProcess::first_live() const {
  for (const auto& node : nodes_) {
    if (node->running()) {
      return *node;
    }
  }
  throw std::runtime_error("ClusterProcess: no node is running");
}

ServerProcess* ClusterProcess::find_by_id(std::string_view id) const {
  for (std::size_t i = 0; i < ids_.size(); ++i) {
    if (ids_[i] == id) {
      return nodes_[i].get();
    }
  }
  return nullptr;
}

const std::string& ClusterProcess::node_id(const ServerProcess& node) const {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].get() == &node) {
      return ids_[i];
    }
  }
  throw std::invalid_argument("ClusterProcess::node_id: " + where(node) +
                              " is not a node of this cluster");
}

std::vector<ServerProcess*> ClusterProcess::primaries() const {
  return roles(true);
}

std::vector<ServerProcess*> ClusterProcess::replicas() const {
  return roles(false);
}

std::vector<ServerProcess*> ClusterProcess::roles(bool primary) const {
  std::vector<Snapshot> snapshots;
  std::vector<ServerProcess*> live;
  for (const auto& node : nodes_) {
    if (node->running()) {
      snapshots.push_back(take_snapshot(*node, false));
      live.push_back(node.get());
    }
  }
  std::vector<ServerProcess*> chosen;
  for (std::size_t i = 0; i < snapshots.size(); ++i) {
    const auto& snapshot = snapshots[i];
    const auto& id = node_id(*snapshot.node);
    // A node's own account first; for one that does not answer (paused), any other's.
    const NodeEntry* entry = snapshot.reachable() ? myself(snapshot.view) : nullptr;
    for (const auto& other : snapshots) {
      if (entry == nullptr && other.reachable()) {
        entry = find_entry(other.view, id);
      }
    }
    if (entry != nullptr && entry->is_primary() == primary) {
      chosen.push_back(live[i]);
    }
  }
  return chosen;
}

std::vector<ServerProcess*> ClusterProcess::replicas_of(const ServerProcess& primary) const {
  const auto& primary_id = node_id(primary);
  std::optional<Snapshot> source;
  if (primary.running()) {
    source = take_snapshot(primary, false);
  }
  for (const auto& node : nodes_) {
    if (source && source->reachable()) {
      break;
    }
    if (node->running()) {
      source = take_snapshot(*node, false);
    }
  }
  if (!source || !source->reachable()) {
    throw std::runtime_error("ClusterProcess::replicas_of: no live node answers");
  }
  std::vector<ServerProcess*> replicas;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const auto* entry = find_entry(source->view, ids_[i]);
    if (entry != nullptr && !entry->is_primary() && entry->primary_id == primary_id) {
      replicas.push_back(nodes_[i].get());
    }
  }
  return replicas;
}

ServerProcess& ClusterProcess::node_for_slot(int slot) const {
  check_slot(slot);
  std::string errors;
  for (const auto& node : nodes_) {
    if (!node->running()) {
      continue;
    }
    const auto snapshot = take_snapshot(*node, false);
    if (!snapshot.reachable()) {
      errors += " " + where(*node) + ": " + snapshot.error + ";";
      continue;
    }
    const auto* owner = owner_of(snapshot.view, slot);
    if (owner == nullptr) {
      throw std::runtime_error("ClusterProcess::node_for_slot: no primary owns slot " +
                               std::to_string(slot) + " according to " + where(*node) + ":\n" +
                               snapshot.cluster_nodes);
    }
    if (auto* found = find_by_id(owner->id)) {
      return *found;
    }
    throw std::runtime_error("ClusterProcess::node_for_slot: slot " + std::to_string(slot) +
                             " belongs to " + owner->id + ", not a node of this cluster");
  }
  throw std::runtime_error("ClusterProcess::node_for_slot: no live node answers:" + errors);
}

ValkeyConfig ClusterProcess::seed_config() const {
  return first_live().config();
}

ValkeyConfig ClusterProcess::client_config() const {
  ValkeyConfig config = seed_config();
  config.cluster.mode = ClusterMode::On;
  config.socket_timeout = std::chrono::seconds{2};
  config.connect_timeout = std::chrono::seconds{1};
  config.reconnect_base_delay = std::chrono::milliseconds{10};
  config.reconnect_max_delay = std::chrono::milliseconds{100};
  return config;
}

std::string ClusterProcess::seed_list() const {
  std::string list;
  for (const auto& node : nodes_) {
    if (!list.empty()) {
      list += ',';
    }
    list += where(*node);
  }
  return list;
}

int ClusterProcess::keyslot(std::string_view key) const {
  const auto& node = first_live();
  const auto reply = admin(node).command({"CLUSTER", "KEYSLOT", key});
  if (is_error(reply) || reply.empty()) {
    throw std::runtime_error("ClusterProcess::keyslot: CLUSTER KEYSLOT on " + where(node) +
                             " answered " + reply);
  }
  return std::stoi(reply);
}

void ClusterProcess::wait_until_ok(std::chrono::milliseconds timeout) {
  if (const auto problem = health_problem(timeout, false)) {
    throw std::runtime_error("ClusterProcess::wait_until_ok: the cluster was not ok within " +
                             millis(timeout) + ": " + *problem);
  }
}

std::optional<std::string> ClusterProcess::health_problem(std::chrono::milliseconds timeout,
                                                          bool everyone) const {
  std::string reason;
  std::optional<Snapshot> culprit;
  const auto not_ready = [&](std::string why, const Snapshot& snapshot) {
    reason = std::move(why);
    culprit = snapshot;
    return false;
  };
  const bool ok = wait_until(
      [&] {
        culprit.reset();
        std::vector<Snapshot> snapshots;
        for (const auto& node : nodes_) {
          if (node->running()) {
            snapshots.push_back(take_snapshot(*node, true));
          } else if (everyone) {
            reason = where(*node) + " is not running";
            return false;
          }
        }
        std::set<std::string> live_ids;
        const Snapshot* first = nullptr;
        for (const auto& snapshot : snapshots) {
          if (snapshot.reachable()) {
            live_ids.insert(node_id(*snapshot.node));
            first = first == nullptr ? &snapshot : first;
          } else if (everyone) {
            return not_ready("it does not answer", snapshot);
          }
        }
        if (first == nullptr) {
          reason = "no node is running and answering";
          return false;
        }
        const auto expected = topology_signature(first->view, live_ids);
        for (const auto& snapshot : snapshots) {
          if (!snapshot.reachable()) {
            continue;
          }
          if (info_field(snapshot.cluster_info, "cluster_state") != "ok") {
            return not_ready("its cluster_state is not ok", snapshot);
          }
          const auto* self = myself(snapshot.view);
          if (self == nullptr || self->id != node_id(*snapshot.node)) {
            return not_ready("CLUSTER NODES has no myself line with its id", snapshot);
          }
          if (self->open_slot) {
            return not_ready("it has a slot importing or migrating", snapshot);
          }
          for (const auto& id : live_ids) {
            const auto* entry = find_entry(snapshot.view, id);
            if (entry == nullptr || entry->troubled()) {
              return not_ready("it does not know live node " + id + " as healthy", snapshot);
            }
          }
          if (const auto signature = topology_signature(snapshot.view, live_ids);
              signature != expected) {
            return not_ready("its topology differs from " + where(*first->node) + "'s:\n  " +
                                 signature + "\nvs\n  " + expected,
                             snapshot);
          }
          if (!self->is_primary() &&
              info_field(snapshot.replication, "master_link_status") != "up") {
            return not_ready("it is a replica whose link to its primary is not up", snapshot);
          }
        }
        return true;
      },
      timeout, kPoll);
  if (ok) {
    return std::nullopt;
  }
  return culprit ? where(*culprit->node) + ": " + reason + describe(*culprit) : reason;
}

ServerProcess& ClusterProcess::kill_primary_of_slot(int slot) {
  auto& owner = node_for_slot(slot);
  owner.kill();
  killed_at_ = Clock::now();
  killed_id_ = node_id(owner);
  return owner;
}

std::chrono::milliseconds ClusterProcess::wait_for_failover(int slot,
                                                            std::chrono::milliseconds timeout) {
  check_slot(slot);
  const auto since = killed_at_.value_or(Clock::now());
  std::string views;
  const bool promoted = wait_until(
      [&] {
        views.clear();
        std::string agreed;
        bool done = true;
        bool anyone = false;
        for (const auto& node : nodes_) {
          if (!node->running()) {
            continue;
          }
          const auto snapshot = take_snapshot(*node, false);
          if (!snapshot.reachable()) {
            views += "\n  " + where(*node) + ": unreachable";
            continue;
          }
          anyone = true;
          const auto* owner = owner_of(snapshot.view, slot);
          const std::string owner_id = owner == nullptr ? std::string{} : owner->id;
          const auto* owner_node = find_by_id(owner_id);
          views += "\n  " + where(*node) + " says " +
                   (owner_node == nullptr ? "nobody" : where(*owner_node));
          if (owner_node == nullptr || owner_id == killed_id_ || !owner_node->running() ||
              (!agreed.empty() && owner_id != agreed)) {
            done = false;
          }
          agreed = owner_id;
          if (owner_node == node.get()) {
            const auto* self = myself(snapshot.view);
            done = done && self != nullptr && self->is_primary();
          }
        }
        return anyone && done;
      },
      timeout, kPoll);
  if (!promoted) {
    std::string logs;
    for (const auto& node : nodes_) {
      if (node->running()) {
        logs += "\n--- " + where(*node) + " log tail ---\n" + node->log_tail(8);
      }
    }
    throw std::runtime_error("ClusterProcess::wait_for_failover: no replica took over slot " +
                             std::to_string(slot) + " within " + millis(timeout) +
                             "; the owner by each live node:" + views + logs);
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since);
}

void ClusterProcess::migrate_slot(int slot, ServerProcess& from, ServerProcess& to) {
  begin_migration(slot, from, to);
  finish_migration();
}

void ClusterProcess::begin_migration(int slot, ServerProcess& from, ServerProcess& to) {
  check_slot(slot);
  if (migration_) {
    throw std::logic_error("ClusterProcess::begin_migration: slot " +
                           std::to_string(migration_->slot) + " is still migrating");
  }
  if (&from == &to) {
    throw std::invalid_argument("ClusterProcess::begin_migration: from and to are one node");
  }
  const auto slot_text = std::to_string(slot);
  // IMPORTING first: once the source says ASK, the target must already accept ASKING.
  expect_ok(admin(to).command({"CLUSTER", "SETSLOT", slot_text, "IMPORTING", node_id(from)}),
            "CLUSTER SETSLOT " + slot_text + " IMPORTING", to);
  expect_ok(admin(from).command({"CLUSTER", "SETSLOT", slot_text, "MIGRATING", node_id(to)}),
            "CLUSTER SETSLOT " + slot_text + " MIGRATING", from);
  migration_ = Migration{.slot = slot, .from = &from, .to = &to};
}

std::size_t ClusterProcess::migrate_some_keys(std::size_t count) {
  if (!migration_) {
    throw std::logic_error("ClusterProcess::migrate_some_keys: no migration is open");
  }
  auto source = admin(*migration_->from, kMigrateTimeout + kCommandTimeout);
  const auto slot_text = std::to_string(migration_->slot);
  std::size_t moved = 0;
  while (moved < count) {
    const auto batch = std::min(kMigrateBatch, count - moved);
    const auto listed =
        source.command({"CLUSTER", "GETKEYSINSLOT", slot_text, std::to_string(batch)});
    if (is_error(listed)) {
      throw std::runtime_error("ClusterProcess: CLUSTER GETKEYSINSLOT on " +
                               where(*migration_->from) + " answered " + listed);
    }
    // RawClient joins an array's elements with '\n': test keys have no newline.
    const auto keys = split(listed, '\n');
    if (keys.empty()) {
      break;
    }
    std::vector<std::string> command{
        "MIGRATE",
        migration_->to->host(),
        std::to_string(migration_->to->port()),
        "",
        "0",
        std::to_string(std::chrono::milliseconds(kMigrateTimeout).count()),
        "KEYS"};
    command.insert(command.end(), keys.begin(), keys.end());
    if (const auto reply = source.command(command); reply != "OK" && reply != "NOKEY") {
      throw std::runtime_error("ClusterProcess: MIGRATE of " + std::to_string(keys.size()) +
                               " keys of slot " + slot_text + " from " + where(*migration_->from) +
                               " answered " + reply);
    }
    moved += keys.size();
  }
  return moved;
}

void ClusterProcess::finish_migration() {
  if (!migration_) {
    throw std::logic_error("ClusterProcess::finish_migration: no migration is open");
  }
  while (migrate_some_keys(1000) > 0) {
  }
  const auto [slot, from, to] = *migration_;
  const auto slot_text = std::to_string(slot);
  const auto& to_id = node_id(*to);
  // The target first, so that the slot has an owner that serves it before the source stops
  // redirecting with ASK; the target also bumps its config epoch so that the change wins.
  expect_ok(admin(*to).command({"CLUSTER", "SETSLOT", slot_text, "NODE", to_id}),
            "CLUSTER SETSLOT " + slot_text + " NODE", *to);
  expect_ok(admin(*from).command({"CLUSTER", "SETSLOT", slot_text, "NODE", to_id}),
            "CLUSTER SETSLOT " + slot_text + " NODE", *from);
  for (auto* primary : primaries()) {
    if (primary != from && primary != to) {
      expect_ok(admin(*primary).command({"CLUSTER", "SETSLOT", slot_text, "NODE", to_id}),
                "CLUSTER SETSLOT " + slot_text + " NODE", *primary);
    }
  }
  migration_.reset();
  wait_until_ok(kFinishMigrationTimeout);
}

}  // namespace airport::cache::testing

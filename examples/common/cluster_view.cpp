// SPDX-License-Identifier: BSD-3-Clause
#include "common/cluster_view.hpp"

#include <airport/cache/cluster_slot.hpp>

#include <fmt/format.h>
#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "common/scenario.hpp"
#include "support/raw_client.hpp"

namespace airport::examples {
namespace {

using cache::testing::RawClient;

// An admin connection to "host:port" (an IPv6 host in brackets). The throwaway cluster's nodes
// need no password.
RawClient connect_to(const std::string& endpoint) {
  const auto colon = endpoint.rfind(':');
  if (colon == std::string::npos)
    throw std::runtime_error{"cluster view: not a host:port endpoint: " + endpoint};
  std::string host = endpoint.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return RawClient{host, std::stoi(endpoint.substr(colon + 1)), {}, {}, std::chrono::seconds{2}};
}

// CLUSTER NODES: "<id> <ip:port@cport[,hostname]> <flags> <primary id> <ping sent> <pong
// received> <config epoch> <link state> <slot range>...", one node a line. Flags include
// "master" or "slave" (also on Valkey); a slot range is "first-last" or one slot, and an entry in
// brackets is a slot being imported or migrated, not owned.
struct NodeLine {
  std::string id;
  ClusterNodeView view;
  std::string primary_id;  // "-" for a primary
  std::size_t first_slot = 0;
};

std::vector<NodeLine> parse_cluster_nodes(const std::string& text) {
  std::vector<NodeLine> lines;
  std::istringstream input{text};
  std::string line;
  while (std::getline(input, line)) {
    std::istringstream fields{line};
    std::vector<std::string> field;
    for (std::string word; fields >> word;)
      field.push_back(word);
    if (field.size() < 8)
      continue;
    NodeLine node{
        .id = field[0],
        .view = {.endpoint = field[1].substr(0, field[1].find('@')),
                 .role = field[2].find("master") != std::string::npos ? "primary" : "replica"},
        .primary_id = field[3],
        .first_slot = cache::cluster_slot_count};
    for (std::size_t i = 8; i < field.size(); ++i) {
      const std::string& range = field[i];
      if (range.starts_with('['))
        continue;
      const auto dash = range.find('-');
      const std::size_t first = std::stoul(range.substr(0, dash));
      const std::size_t last =
          dash == std::string::npos ? first : std::stoul(range.substr(dash + 1));
      node.view.slots += last - first + 1;
      node.first_slot = std::min(node.first_slot, first);
      node.view.slot_ranges += (node.view.slot_ranges.empty() ? "" : " ") + range;
    }
    lines.push_back(std::move(node));
  }
  return lines;
}

}  // namespace

std::vector<ClusterNodeView> cluster_nodes(const cache::ValkeyConfig& config) {
  RawClient client{config.host, config.port, {}, {}, std::chrono::seconds{2}};
  const std::string text = client.command({"CLUSTER", "NODES"});
  if (text.starts_with("(error)"))
    throw std::runtime_error{"CLUSTER NODES on " + client.endpoint() + ": " + text};
  std::vector<NodeLine> lines = parse_cluster_nodes(text);
  std::vector<NodeLine> primaries;
  for (const NodeLine& line : lines) {
    if (line.view.role == "primary")
      primaries.push_back(line);
  }
  std::sort(primaries.begin(), primaries.end(),
            [](const NodeLine& a, const NodeLine& b) { return a.first_slot < b.first_slot; });
  std::vector<ClusterNodeView> nodes;
  for (const NodeLine& primary : primaries)
    nodes.push_back(primary.view);
  for (const NodeLine& primary : primaries) {
    for (NodeLine& line : lines) {
      if (line.view.role == "replica" && line.primary_id == primary.id) {
        line.view.replica_of = primary.view.endpoint;
        nodes.push_back(line.view);
      }
    }
  }
  // Replicas of a primary this node does not know (not on a healthy cluster), last.
  for (const NodeLine& line : lines) {
    if (line.view.role == "replica" && line.view.replica_of.empty() &&
        std::none_of(primaries.begin(), primaries.end(),
                     [&](const NodeLine& p) { return p.id == line.primary_id; }))
      nodes.push_back(line.view);
  }
  return nodes;
}

void empty_primaries(const std::vector<ClusterNodeView>& nodes) {
  for (const ClusterNodeView& node : nodes) {
    if (node.role != "primary")
      continue;
    const std::string reply = connect_to(node.endpoint).command({"FLUSHALL"});
    if (reply != "OK")
      throw std::runtime_error{"FLUSHALL on " + node.endpoint + ": " + reply};
  }
}

std::vector<PrimaryKeys> keys_per_primary(const std::vector<ClusterNodeView>& nodes) {
  std::vector<PrimaryKeys> result;
  for (const ClusterNodeView& node : nodes) {
    if (node.role != "primary")
      continue;
    RawClient client = connect_to(node.endpoint);
    PrimaryKeys keys{.endpoint = node.endpoint, .keys = client.integer({"DBSIZE"})};
    if (keys.keys > 0) {
      std::string example = client.command({"RANDOMKEY"});
      keys.example = example == "(nil)" ? std::string{} : std::move(example);
    }
    result.push_back(std::move(keys));
  }
  return result;
}

void print_cluster_nodes(const Output& out, const std::vector<ClusterNodeView>& nodes) {
  std::vector<std::vector<std::string>> rows{{"node", "role", "slots", "slot ranges"}};
  for (const ClusterNodeView& node : nodes) {
    rows.push_back({node.endpoint, node.role,
                    node.role == "primary" ? std::to_string(node.slots) : "-",
                    node.role == "primary" ? node.slot_ranges : "replica of " + node.replica_of});
  }
  out.table(rows);
}

void print_keys_per_primary(const Output& out, const std::vector<PrimaryKeys>& keys) {
  std::string text;
  for (const PrimaryKeys& node : keys) {
    text += fmt::format("{}{} {}", text.empty() ? "" : ", ", node.endpoint, node.keys);
    if (!node.example.empty())
      text += fmt::format(" (e.g. {})", node.example);
  }
  out.line("keys on the primaries afterwards: " + text);
}

nlohmann::json nodes_json(const std::vector<ClusterNodeView>& nodes) {
  nlohmann::json json = nlohmann::json::array();
  for (const ClusterNodeView& node : nodes) {
    json.push_back({{"endpoint", node.endpoint},
                    {"role", node.role},
                    {"slots", node.slots},
                    {"slot_ranges", node.slot_ranges},
                    {"replica_of", node.replica_of}});
  }
  return json;
}

nlohmann::json keys_json(const std::vector<PrimaryKeys>& keys) {
  nlohmann::json json = nlohmann::json::array();
  for (const PrimaryKeys& node : keys)
    json.push_back({{"endpoint", node.endpoint}, {"keys", node.keys}, {"example", node.example}});
  return json;
}

}  // namespace airport::examples

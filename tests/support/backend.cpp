// SPDX-License-Identifier: BSD-3-Clause
// The shared test backends and the key-routing oracle (see backend.hpp).
#include "support/backend.hpp"

#include <airport/cache/cluster_client.hpp>
#include <airport/cache/cluster_slot.hpp>

#include <chrono>
#include <stdexcept>
#include <utility>
#include <vector>

namespace airport::cache::testing {
namespace {

using namespace std::chrono_literals;

// One slot per backend, destroyed (servers killed by pid) by stop_all() or at exit.
std::array<std::unique_ptr<SharedBackend>, all_backends.size()>& instances() {
  static std::array<std::unique_ptr<SharedBackend>, all_backends.size()> all;
  return all;
}

std::size_t index_of(Backend backend) {
  return backend == Backend::Standalone ? 0 : 1;
}

}  // namespace

std::string_view to_string(Backend backend) noexcept {
  switch (backend) {
    case Backend::Standalone:
      return "Standalone";
    case Backend::Cluster:
      return "Cluster";
  }
  return "Unknown";
}

// --- Oracle ----------------------------------------------------------------------------------

Oracle::Oracle(const ServerProcess* server, const ClusterProcess* cluster)
    : server_{server}, cluster_{cluster} {
  if ((server_ == nullptr) == (cluster_ == nullptr))
    throw std::invalid_argument("Oracle: give exactly one of a server and a cluster");
}

RawClient& Oracle::connection(const ServerProcess& node) {
  auto found = connections_.find(node.port());
  if (found == connections_.end())
    found = connections_.emplace(node.port(), node.client()).first;
  return found->second;
}

RawClient& Oracle::node_for(std::string_view key) {
  if (server_ != nullptr)
    return connection(*server_);
  const int slot = cluster_slot(key);
  auto owner = slot_owner_.find(slot);
  if (owner == slot_owner_.end()) {
    // CLUSTER NODES once per slot: the shared cluster's topology never changes.
    const ServerProcess& node = cluster_->node_for_slot(slot);
    owner = slot_owner_.emplace(slot, node.port()).first;
    return connection(node);
  }
  return connections_.at(owner->second);
}

std::optional<std::string> Oracle::get(std::string_view key) {
  return node_for(key).get(key);
}

void Oracle::set(std::string_view key, std::string_view value) {
  node_for(key).set(key, value);
}

std::string Oracle::command(std::initializer_list<std::string_view> args) {
  if (args.size() < 2)
    throw std::invalid_argument("Oracle::command: the command needs a key as its first argument");
  return node_for(*(args.begin() + 1)).command(args);
}

long long Oracle::integer(std::initializer_list<std::string_view> args) {
  if (args.size() < 2)
    throw std::invalid_argument("Oracle::integer: the command needs a key as its first argument");
  return node_for(*(args.begin() + 1)).integer(args);
}

long long Oracle::dbsize() {
  if (server_ != nullptr)
    return connection(*server_).integer({"DBSIZE"});
  long long total = 0;
  for (const ServerProcess* primary : cluster_->primaries())
    total += connection(*primary).integer({"DBSIZE"});
  return total;
}

void Oracle::on_every_primary(std::initializer_list<std::string_view> args) {
  std::vector<const ServerProcess*> nodes;
  if (server_ != nullptr)
    nodes.push_back(server_);
  else
    for (const ServerProcess* primary : cluster_->primaries())
      nodes.push_back(primary);
  for (const ServerProcess* node : nodes) {
    const std::string reply = connection(*node).command(args);
    if (reply.starts_with("(error)"))
      throw std::runtime_error("Oracle: " + std::string{*args.begin()} + " on " +
                               connection(*node).endpoint() + ": " + reply);
  }
}

std::string Oracle::endpoint_of(std::string_view key) {
  return node_for(key).endpoint();
}

// --- SharedBackend ---------------------------------------------------------------------------

SharedBackend::SharedBackend(Backend backend) : backend_{backend} {
  if (backend == Backend::Standalone)
    server_ = std::make_unique<ServerProcess>();
  else
    cluster_ = std::make_unique<ClusterProcess>();
}

SharedBackend::~SharedBackend() = default;

SharedBackend& SharedBackend::get(Backend backend) {
  std::unique_ptr<SharedBackend>& slot = instances()[index_of(backend)];
  if (!slot)
    slot.reset(new SharedBackend{backend});
  return *slot;
}

SharedBackend& SharedBackend::fresh(Backend backend) {
  SharedBackend& shared = get(backend);
  shared.flush();
  return shared;
}

void SharedBackend::stop_all() {
  for (std::unique_ptr<SharedBackend>& slot : instances())
    slot.reset();  // ~ServerProcess / ~ClusterProcess: SIGKILL by pid, reap, remove directories
}

ValkeyConfig SharedBackend::config() const {
  if (server_)
    return server_->config();
  return cluster_->client_config();
}

std::shared_ptr<Client> SharedBackend::make_client(const ValkeyConfig& config) const {
  return airport::cache::make_client(config);
}

void SharedBackend::flush() {
  Oracle admin = oracle();
  admin.on_every_primary({"FLUSHALL"});
  admin.on_every_primary({"SCRIPT", "FLUSH"});
}

}  // namespace airport::cache::testing

// SPDX-License-Identifier: BSD-3-Clause
#include "support/scripted_client.hpp"

#include <airport/cache/errors.hpp>

#include <algorithm>
#include <cctype>

namespace airport::cache::testing {
namespace {

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

}  // namespace

bool ScriptedClient::Gate::wait_reached(std::size_t count, std::chrono::milliseconds timeout) {
  std::unique_lock lock{mutex_};
  return changed_.wait_for(lock, timeout, [&] { return reached_ >= count; });
}

void ScriptedClient::Gate::release(bool fail) {
  {
    std::lock_guard lock{mutex_};
    released_ = true;
    fail_ = fail;
  }
  changed_.notify_all();
}

std::shared_ptr<ScriptedClient::Gate> ScriptedClient::on(std::string command, std::string key,
                                                         Action action,
                                                         std::optional<std::size_t> times) {
  auto gate = std::make_shared<Gate>();
  std::lock_guard lock{mutex_};
  rules_.push_back({std::move(command), std::move(key), action, times, gate});
  return gate;
}

void ScriptedClient::fail_everything(bool on) {
  std::lock_guard lock{mutex_};
  fail_everything_ = on;
}

void ScriptedClient::clear() {
  std::vector<Rule> rules;
  {
    std::lock_guard lock{mutex_};
    rules.swap(rules_);
  }
  for (const Rule& rule : rules)
    rule.gate->release();
}

void ScriptedClient::apply(std::string_view command, std::string_view key) {
  std::shared_ptr<Gate> gate;
  Action action = Action::Fail;
  {
    std::lock_guard lock{mutex_};
    if (fail_everything_)
      throw ConnectionError("scripted: " + std::string{command} + " on a server that is gone");
    for (auto rule = rules_.begin(); rule != rules_.end(); ++rule) {
      if (!same_name(rule->command, command) || (!rule->key.empty() && rule->key != key))
        continue;
      gate = rule->gate;
      action = rule->action;
      if (rule->times && --*rule->times == 0)
        rules_.erase(rule);
      break;
    }
  }
  if (!gate)
    return;
  if (action == Action::Fail)
    throw ConnectionError("scripted: " + std::string{command} + " failed");
  std::unique_lock lock{gate->mutex_};
  ++gate->reached_;
  gate->changed_.notify_all();
  gate->changed_.wait(lock, [&] { return gate->released_; });
  if (gate->fail_)
    throw ConnectionError("scripted: " + std::string{command} + " failed after being held");
}

Reply ScriptedClient::execute(CommandArgs argv) {
  apply(argv.empty() ? std::string_view{} : argv[0],
        argv.size() > 1 ? argv[1] : std::string_view{});
  return real_->execute(argv);
}

std::vector<Reply> ScriptedClient::execute(const Pipeline& pipeline) {
  apply("PIPELINE", {});
  return real_->execute(pipeline);
}

std::optional<std::vector<Reply>> ScriptedClient::transaction(const Pipeline& pipeline) {
  apply("MULTI", {});
  return real_->transaction(pipeline);
}

}  // namespace airport::cache::testing

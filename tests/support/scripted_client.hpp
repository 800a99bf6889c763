// SPDX-License-Identifier: BSD-3-Clause
// ScriptedClient: a Client in front of a real one that the test drives step by step. A rule
// matches commands by name (and key) and makes them fail, or holds the calling thread at a gate
// until the test lets it go: the way to force an exact interleaving of two callers. It stands
// in only where no real fault can pick the moment (a write landing in the middle of a replay).
#pragma once

#include <airport/cache/client.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace airport::cache::testing {

/// Safe for concurrent use: the rules are shared by every calling thread.
class ScriptedClient final : public Client {
 public:
  /// What a matching command does.
  enum class Action {
    Fail,  // throws ConnectionError without reaching the server
    Hold,  // waits at the rule's gate; then runs, or fails if released with fail = true
  };

  /// A handle on one rule, for the test to wait on and release.
  class Gate {
   public:
    /// Waits until `count` commands are held at this gate (or have passed it).
    [[nodiscard]] bool wait_reached(std::size_t count = 1,
                                    std::chrono::milliseconds timeout = std::chrono::seconds{5});
    /// Lets every held command and every later match go on (run it, or fail it).
    void release(bool fail = false);

   private:
    friend class ScriptedClient;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::size_t reached_ = 0;
    bool released_ = false;
    bool fail_ = false;
  };

  explicit ScriptedClient(std::shared_ptr<Client> real) : real_{std::move(real)} {}

  /// Adds a rule for commands named `command` (case-insensitive) whose first argument is `key`
  /// (any when empty), for the next `times` matches (or for ever when nullopt). Rules are tried
  /// in the order they were added.
  std::shared_ptr<Gate> on(std::string command, std::string key, Action action,
                           std::optional<std::size_t> times = 1);
  /// Every command fails until heal(): a server that is gone.
  void fail_everything(bool on);
  /// Removes every rule and releases every gate.
  void clear();

  using Client::execute;
  Reply execute(CommandArgs argv) override;
  std::vector<Reply> execute(const Pipeline& pipeline) override;
  std::optional<std::vector<Reply>> transaction(const Pipeline& pipeline) override;
  std::unique_ptr<Session> session() override { return real_->session(); }
  [[nodiscard]] HealthStatus health() const override { return real_->health(); }
  [[nodiscard]] std::string endpoint() const override { return real_->endpoint(); }
  [[nodiscard]] std::uint64_t server_epoch() const noexcept override {
    return real_->server_epoch();
  }

 private:
  struct Rule {
    std::string command;
    std::string key;
    Action action;
    std::optional<std::size_t> times;
    std::shared_ptr<Gate> gate;
  };
  // Applies the first matching rule; throws for a failure.
  void apply(std::string_view command, std::string_view key);

  std::shared_ptr<Client> real_;
  std::mutex mutex_;
  std::vector<Rule> rules_;
  bool fail_everything_ = false;
};

}  // namespace airport::cache::testing

// SPDX-License-Identifier: BSD-3-Clause
// The baseline every layer is compared with: plain hiredis on one connection, one thread.
// redisCommandArgv for GET and SET of 100-byte values, and redisAppendCommandArgv +
// redisGetReply for pipelines of 100 SETs.
#include <hiredis/hiredis.h>

#include <benchmark/benchmark.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "bench_support.hpp"

namespace airport::cache::bench {
namespace {

struct ReplyDeleter {
  void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

[[noreturn]] void fail(redisContext* context, const char* what) {
  throw std::runtime_error(std::string{"raw hiredis "} + what + ": " +
                           (context->err != 0 ? context->errstr : "unexpected reply"));
}

}  // namespace

RawConnection::RawConnection() : context_{redisConnect(server().host().c_str(), server().port())} {
  if (context_ == nullptr)
    throw std::runtime_error("redisConnect: out of memory");
  if (context_->err != 0) {
    const std::string detail = context_->errstr;
    redisFree(context_);
    throw std::runtime_error("redisConnect: " + detail);
  }
}

RawConnection::~RawConnection() {
  redisFree(context_);
}

long long RawConnection::get(const std::string& key) {
  const char* argv[] = {"GET", key.c_str()};
  const std::size_t lengths[] = {3, key.size()};
  ReplyPtr reply{static_cast<redisReply*>(redisCommandArgv(context_, 2, argv, lengths))};
  if (!reply)
    fail(context_, "GET");
  if (reply->type == REDIS_REPLY_NIL)
    return -1;
  if (reply->type != REDIS_REPLY_STRING)
    fail(context_, "GET");
  benchmark::DoNotOptimize(reply->str);
  return static_cast<long long>(reply->len);
}

void RawConnection::set(const std::string& key, const std::string& value, std::string_view px) {
  const char* argv[] = {"SET", key.c_str(), value.c_str(), "PX", px.data()};
  const std::size_t lengths[] = {3, key.size(), value.size(), 2, px.size()};
  const int argc = px.empty() ? 3 : 5;
  ReplyPtr reply{static_cast<redisReply*>(redisCommandArgv(context_, argc, argv, lengths))};
  if (!reply || reply->type != REDIS_REPLY_STATUS)
    fail(context_, "SET");
}

void RawConnection::pipeline_set(std::size_t first, std::size_t count, std::string_view px) {
  const auto& keys = hot_keys();
  const std::string& value = value_100();
  const int argc = px.empty() ? 3 : 5;
  for (std::size_t n = 0; n < count; ++n) {
    const std::string& key = keys[(first + n) % keys.size()];
    const char* argv[] = {"SET", key.c_str(), value.c_str(), "PX", px.data()};
    const std::size_t lengths[] = {3, key.size(), value.size(), 2, px.size()};
    if (redisAppendCommandArgv(context_, argc, argv, lengths) != REDIS_OK)
      fail(context_, "pipelined SET");
  }
  for (std::size_t n = 0; n < count; ++n) {
    void* raw = nullptr;
    if (redisGetReply(context_, &raw) != REDIS_OK)
      fail(context_, "pipelined SET");
    ReplyPtr reply{static_cast<redisReply*>(raw)};
    if (reply->type != REDIS_REPLY_STATUS)
      fail(context_, "pipelined SET");
  }
}

namespace {

// GET of a 100-byte value that exists.
void BM_Raw_Get(benchmark::State& state) {
  guarded(state, [&] {
    RawConnection raw;
    const auto& keys = hot_keys();
    std::size_t i = 0;
    ServerCpu server_cpu{state};
    for (auto _ : state)
      benchmark::DoNotOptimize(raw.get(keys[i++ % keys.size()]));
    server_cpu.report(state, state.iterations());
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Raw_Get)->UseRealTime();

// GET of a key that does not exist (nil reply).
void BM_Raw_GetMiss(benchmark::State& state) {
  guarded(state, [&] {
    RawConnection raw;
    const auto& keys = missing_keys();
    std::size_t i = 0;
    for (auto _ : state)
      benchmark::DoNotOptimize(raw.get(keys[i++ % keys.size()]));
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Raw_GetMiss)->UseRealTime();

// SET of a 100-byte value, no expiry.
void BM_Raw_Set(benchmark::State& state) {
  guarded(state, [&] {
    RawConnection raw;
    const auto& keys = hot_keys();
    std::size_t i = 0;
    for (auto _ : state)
      raw.set(keys[i++ % keys.size()], value_100());
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Raw_Set)->UseRealTime();

// 100 SETs appended, sent in one write, and their 100 replies read: one iteration is one batch.
void BM_Raw_Pipeline100Set(benchmark::State& state) {
  constexpr std::size_t batch = 100;
  guarded(state, [&] {
    RawConnection raw;
    std::size_t first = 0;
    for (auto _ : state) {
      raw.pipeline_set(first, batch);
      first += batch;
    }
  });
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
}
BENCHMARK(BM_Raw_Pipeline100Set)->UseRealTime();

}  // namespace
}  // namespace airport::cache::bench

// SPDX-License-Identifier: BSD-3-Clause
// redis-benchmark (or valkey-benchmark) as a reference client: finding the binary, running it by
// pid with a timeout, and reading its GET rate. Used by tls_bench.cpp (the TLS ceiling) and
// cluster_bench.cpp (the cluster comparison).
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace airport::cache::bench {

/// $AIRPORT_CACHE_REDIS_BENCHMARK (a path, or a name looked up on PATH), else the tool that comes
/// with the server (valkey-benchmark beside valkey-server, redis-benchmark beside redis-server),
/// else either one on PATH. Throws std::runtime_error naming the Debian package when none is.
[[nodiscard]] std::string redis_benchmark_binary();

/// Runs `argv` (argv[0] a path, or a name looked up on PATH) with stdin from /dev/null and
/// returns its stdout and stderr, interleaved. Kills it (SIGKILL, by pid) when it runs past
/// `timeout`, and always reaps it. Throws std::runtime_error on a failure to start, a timeout,
/// or a non-zero exit, with the tail of its output.
[[nodiscard]] std::string run_to_completion(const std::vector<std::string>& argv,
                                            std::chrono::milliseconds timeout);

/// The requests per second of the GET test in redis-benchmark's --csv output:
/// "test","rps",... then "GET","41666.67",... (-t get) or "GET <key>","41666.67",... (a GET
/// given on the command line). Throws std::runtime_error, with the output, when there is none.
[[nodiscard]] double csv_get_requests_per_second(const std::string& output);

}  // namespace airport::cache::bench

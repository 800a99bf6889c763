#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Turns one run of airport_cache_bench (Google Benchmark JSON, aggregates only) and the memory
probe's output into docs/benchmarks.md: every benchmark's median time and throughput, each
layer's ratio to the raw hiredis baseline of the same run, TLS against plaintext on the same
server, the cluster client against the standalone one, and a PASS/MISS verdict per target.

    scripts/bench_report.py --bench build/release/bench.json \
        --memory build/release/bench_memory.json --out docs/benchmarks.md

Standard library only. scripts/bench calls it; it can be re-run on a saved JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field

# ---------------------------------------------------------------------------------------------
# What each benchmark is, and what it is compared with. Rows print in this order; a benchmark
# missing here still gets a row under "Other", so the table always holds every benchmark run.

RAW_GET = "BM_Raw_Get/real_time"
RAW_GET_MISS = "BM_Raw_GetMiss/real_time"
RAW_SET = "BM_Raw_Set/real_time"
RAW_PIPELINE = "BM_Raw_Pipeline100Set/real_time"
CLIENT_GET = "BM_Client_Get/real_time"
CLIENT_SET = "BM_Client_Set/real_time"
POOL = "BM_Client_GetPool4/real_time/threads:{}"
CLIENT_PIPELINE = "BM_Client_Pipeline100Set/real_time"
CLIENT_MGET = "BM_Client_Mget100/real_time"
CLIENT_SEQUENTIAL = "BM_Client_Sequential100Get/real_time"
MANAGER_HIT = "BM_Manager_GetHit/real_time"
MANAGER_MISS = "BM_Manager_GetMiss/real_time"
MANAGER_SET = "BM_Manager_Set/real_time"
MANAGER_COMPUTE = "BM_Manager_GetOrComputeHit/real_time"
MANAGER_TYPED = "BM_Manager_GetTypedJson1KiB/real_time"
MANAGER_OPEN = "BM_Manager_GetBreakerOpen/real_time"
MANAGER_OPEN_LATENCY = "BM_Manager_GetBreakerOpenLatency/real_time"
FALLBACK_GET = "BM_Fallback_Get/keys:{}/real_time/threads:{}"
FALLBACK_SET = "BM_Fallback_Set/real_time/threads:{}"
FALLBACK_UNSHARED = "BM_Fallback_GetUnshared/keys:{}/real_time/threads:2"
STATS = "BM_Stats_RecordGet"
STATS_CLOCK = "BM_Stats_RecordGetWithClock"
STATS_SHARED = "BM_Stats_RecordGetShared/real_time/threads:2"
KEYS_SEARCH = "BM_Keys_FlightSearchKey2Params"
KEYS_HASH = "BM_Keys_HashKey"
KEYS_SHORTEN = "BM_Keys_ShortenLongKey"
TTL_JITTER = "BM_Ttl_Jittered"
MACHINE_WORK = "BM_Machine_IndependentWork/real_time/threads:{}"
MACHINE_LOAD = "BM_Machine_RandomLoad32MiB"
MACHINE_CLOCK = "BM_Machine_SteadyClockNow"
PAIRED_CLIENT_GET = "BM_Paired_ClientGet/real_time"
PAIRED_CLIENT_SET = "BM_Paired_ClientSet/real_time"
PAIRED_PIPELINE = "BM_Paired_ClientPipeline100Set/real_time"
PAIRED_MANAGER_GET = "BM_Paired_ManagerGetHit/real_time"
PAIRED_MANAGER_SET = "BM_Paired_ManagerSet/real_time"
PAIRED_COMPUTE = "BM_Paired_GetOrComputeHit/real_time"
PAIRED_MGET = "BM_Paired_Mget100/real_time"
PAIRED_MSET = "BM_Paired_ManagerMset100/real_time"
PAIRED_MSET_NO_FALLBACK = "BM_Paired_ManagerMset100NoFallback/real_time"
PAIRED_CALLERS = "BM_Paired_ManagerDefaultsVsRawPool16/real_time/threads:{}"
CALLERS_THREADS = (16, 64)
PAIRED_COLD_START = "BM_Paired_ColdStartFirstGet/real_time"
PAIRED_COLD_START_STANDALONE = "BM_Paired_ColdStartFirstGetStandalone/real_time"
TLS_GET = "BM_Tls_Get/real_time"
TLS_PIPELINE = "BM_Tls_Pipeline100Set/real_time"
CONNECT_PLAIN = "BM_Client_ConnectPlain/real_time"
CONNECT_FULL = "BM_Tls_ConnectFull/real_time"
CONNECT_RESUMED = "BM_Tls_ConnectResumed/real_time"
PAIRED_TLS_GET = "BM_Paired_TlsGet/real_time"
PAIRED_TLS_PIPELINE = "BM_Paired_TlsPipeline100Set/real_time"
PAIRED_TLS_CONNECT = "BM_Paired_TlsConnect/real_time"
REDIS_BENCHMARK_TLS = "BM_RedisBenchmark_TlsGet/iterations:1/manual_time"
REDIS_BENCHMARK_PLAIN = "BM_RedisBenchmark_PlainGet/iterations:1/manual_time"
CLUSTER_GET = "BM_Cluster_Get/real_time/threads:{}"
CLUSTER_ONE_NODE = "BM_Cluster_GetOneNode/real_time"
REDIS_BENCHMARK_CLUSTER = "BM_RedisBenchmark_ClusterGet/clients:{}/iterations:1/manual_time"
CLUSTER_SLOT_MOVE = "BM_Cluster_SlotMove/keys:{}/iterations:3/manual_time"
CLUSTER_MOVED_GET = "BM_Cluster_MovedGet/iterations:10/manual_time"
CLUSTER_THREADS = (1, 16)
CLUSTER_SLOT_KEYS = (100, 1000)

# The TLS targets, by name: the TLS section repeats their verdicts.
TLS_GET_TARGET = "ValkeyClient GET over TLS ≥ 0.80 × plaintext ValkeyClient GET"
TLS_PIPELINE_TARGET = "ValkeyClient Pipeline of 100 SET over TLS ≥ 0.70 × plaintext"
TLS_RESUME_TARGET = "TLS connection with a resumed session ≥ 2 × faster than a full handshake"
TLS_CEILING_TARGET = "ValkeyClient GET over TLS vs redis-benchmark --tls GET (the ceiling)"
CLUSTER_TARGET = ("ClusterClient GET throughput vs standalone ValkeyClient GET, 16 threads, "
                  "local cluster of 3 primaries")

# (run_name, layer, baseline) of the paired benchmarks, in print order.
PAIRS = [
    (PAIRED_CLIENT_GET, "ValkeyClient GET", "raw hiredis GET"),
    (PAIRED_CLIENT_SET, "ValkeyClient SET", "raw hiredis SET"),
    (PAIRED_PIPELINE, "ValkeyClient Pipeline of 100 SET", "raw hiredis pipeline of 100 SET"),
    (PAIRED_MGET, "ValkeyClient MGET of 100 keys", "100 sequential ValkeyClient GETs"),
    (PAIRED_MANAGER_GET, "CacheManager GET hit", "raw hiredis GET"),
    (PAIRED_MANAGER_SET, "CacheManager SET (TTL + write-through)",
     "raw hiredis SET PX (the same TTL)"),
    (PAIRED_MSET, "CacheManager mset of 100 items, fallback on (PX + write-through)",
     "raw hiredis pipeline of 100 SET PX (the same TTL)"),
    (PAIRED_MSET_NO_FALLBACK, "CacheManager mset of 100 items, fallback off",
     "raw hiredis pipeline of 100 SET PX (the same TTL)"),
    *[(PAIRED_CALLERS.format(n), f"CacheManager GET, default settings, {n} callers (total)",
       f"pool of 16 raw hiredis connections, {n} callers (total)") for n in CALLERS_THREADS],
    (PAIRED_COLD_START_STANDALONE, "CacheManager construct + first GET, VALKEY_CLUSTER=false",
     "raw hiredis connect + GET"),
    (PAIRED_COLD_START, "CacheManager construct + first GET, VALKEY_CLUSTER=auto (default)",
     "raw hiredis connect + GET"),
    (PAIRED_COMPUTE, "CacheManager get_or_compute hit", "CacheManager GET hit"),
    (PAIRED_TLS_GET, "ValkeyClient GET over TLS", "ValkeyClient GET, plaintext"),
    (PAIRED_TLS_PIPELINE, "ValkeyClient Pipeline of 100 SET over TLS",
     "the same, plaintext"),
    (PAIRED_TLS_CONNECT, "open + close a connection, resumed TLS session",
     "the same, full TLS handshake"),
]


@dataclass
class Row:
    section: str
    run_name: str
    label: str
    baseline: str | None = None  # run_name of the benchmark it is compared with (raw hiredis,
    # or for TLS rows the plaintext one)
    unit: str = "op"  # what one iteration is: "op", "batch of 100", "connection", ...


ROWS = [
    Row("Raw hiredis (baseline)", RAW_GET, "GET 100 B (redisCommandArgv)"),
    Row("Raw hiredis (baseline)", RAW_GET_MISS, "GET, missing key"),
    Row("Raw hiredis (baseline)", RAW_SET, "SET 100 B"),
    Row("Raw hiredis (baseline)", RAW_PIPELINE, "pipeline of 100 SET (append + getReply)",
        unit="batch of 100"),
    Row("ValkeyClient", CLIENT_GET, "GET 100 B", RAW_GET),
    Row("ValkeyClient", CLIENT_SET, "SET 100 B", RAW_SET),
    Row("ValkeyClient", POOL.format(1), "GET, pool of 4 shared by 1 thread", RAW_GET),
    Row("ValkeyClient", POOL.format(2), "GET, pool of 4 shared by 2 threads (total)", RAW_GET),
    Row("ValkeyClient", POOL.format(4), "GET, pool of 4 shared by 4 threads (total)", RAW_GET),
    Row("ValkeyClient", CLIENT_PIPELINE, "Pipeline of 100 SET", RAW_PIPELINE, "batch of 100"),
    Row("ValkeyClient", CLIENT_MGET, "MGET of 100 keys", None, "batch of 100"),
    Row("ValkeyClient", CLIENT_SEQUENTIAL, "100 sequential GETs", None, "batch of 100"),
    Row("CacheManager", MANAGER_HIT, "GET hit, breaker closed", RAW_GET),
    Row("CacheManager", MANAGER_MISS, "GET miss, breaker closed", RAW_GET_MISS),
    Row("CacheManager", MANAGER_SET, "SET 100 B with jittered TTL + write-through", RAW_SET),
    Row("CacheManager", MANAGER_COMPUTE, "get_or_compute, hit", RAW_GET),
    Row("CacheManager", MANAGER_TYPED, "get<T>, ~1.5 KiB JSON object", RAW_GET),
    Row("CacheManager", MANAGER_OPEN, "GET, breaker open (fallback hit, no network)", RAW_GET),
    Row("CacheManager", MANAGER_OPEN_LATENCY, "GET, breaker open, each call timed", RAW_GET),
    Row("TLS", TLS_GET, "GET 100 B over TLS", CLIENT_GET),
    Row("TLS", TLS_PIPELINE, "Pipeline of 100 SET over TLS", CLIENT_PIPELINE, "batch of 100"),
    Row("TLS", CONNECT_PLAIN, "open + close a connection, plaintext", None, "connection"),
    Row("TLS", CONNECT_FULL, "open + close, full TLS handshake", CONNECT_PLAIN, "connection"),
    Row("TLS", CONNECT_RESUMED, "open + close, resumed TLS session", CONNECT_FULL, "connection"),
    Row("TLS", REDIS_BENCHMARK_TLS, "redis-benchmark --tls GET, 1 client, no pipelining", None,
        "run of 10k GETs"),
    Row("TLS", REDIS_BENCHMARK_PLAIN, "redis-benchmark GET, plaintext, 1 client", None,
        "run of 10k GETs"),
    Row("Cluster", CLUSTER_GET.format(1), "GET, ClusterClient and standalone ValkeyClient paired "
        "by phases (see Cluster), 1 thread", None, "pair of phases"),
    Row("Cluster", CLUSTER_GET.format(16), "the same, 16 threads", None, "pair of phases"),
    Row("Cluster", CLUSTER_ONE_NODE, "GET of keys on one primary, ClusterClient and a "
        "ValkeyClient on that primary, paired (see Cluster)", None, "pair"),
    Row("Cluster", REDIS_BENCHMARK_CLUSTER.format(1), "redis-benchmark --cluster GET, 1 client",
        None, "run of 20k GETs"),
    Row("Cluster", REDIS_BENCHMARK_CLUSTER.format(16), "redis-benchmark --cluster GET, 16 clients",
        None, "run of 20k GETs"),
    Row("Cluster", CLUSTER_SLOT_MOVE.format(100), "slot of 100 keys moved under reads: time to "
        "steady state", None, "slot move"),
    Row("Cluster", CLUSTER_SLOT_MOVE.format(1000), "slot of 1000 keys moved under reads: time to "
        "steady state", None, "slot move"),
    Row("Cluster", CLUSTER_MOVED_GET, "first GET after a slot moved (one MOVED)"),
    Row("FallbackCache (100k entries, 100 B values)", FALLBACK_GET.format(1000, 1),
        "get, hot set of 1k keys, 1 thread"),
    Row("FallbackCache (100k entries, 100 B values)", FALLBACK_GET.format(1000, 2),
        "get, hot set of 1k keys, 2 threads (total)"),
    Row("FallbackCache (100k entries, 100 B values)", FALLBACK_GET.format(100000, 1),
        "get, uniform over 100k keys, 1 thread"),
    Row("FallbackCache (100k entries, 100 B values)", FALLBACK_GET.format(100000, 2),
        "get, uniform over 100k keys, 2 threads (total)"),
    Row("FallbackCache (100k entries, 100 B values)", FALLBACK_UNSHARED.format(1000),
        "control: 2 threads, a cache each, hot set (total)"),
    Row("FallbackCache (100k entries, 100 B values)", FALLBACK_UNSHARED.format(100000),
        "control: 2 threads, a cache each, uniform (total)"),
    Row("FallbackCache (100k entries, 100 B values)", FALLBACK_SET.format(1),
        "set (replace), uniform, 1 thread"),
    Row("FallbackCache (100k entries, 100 B values)", FALLBACK_SET.format(2),
        "set (replace), uniform, 2 threads (total)"),
    Row("Stats", STATS, "record_latency + record_hit"),
    Row("Stats", STATS_CLOCK, "the same + two steady_clock reads"),
    Row("Stats", STATS_SHARED, "record_latency + record_hit, 2 threads, one CacheStats (total)"),
    Row("Keys and TTL", KEYS_SEARCH, "flight_search_key with 2 params"),
    Row("Keys and TTL", KEYS_HASH, "hash_key of a 10-field search (sorted JSON + MD5, as the original)"),
    Row("Keys and TTL", KEYS_SHORTEN, "shorten_key of a 400-byte key to 250"),
    Row("Keys and TTL", TTL_JITTER, "one jittered TTL"),
    Row("Machine calibration", MACHINE_WORK.format(1), "independent CPU work, 1 thread"),
    Row("Machine calibration", MACHINE_WORK.format(2), "independent CPU work, 2 threads (total)"),
    Row("Machine calibration", MACHINE_LOAD, "one random load in 32 MiB (cache + TLB miss)"),
    Row("Machine calibration", MACHINE_CLOCK, "one std::chrono::steady_clock::now()"),
]

TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
STANDARD_KEYS = {
    "name", "family_index", "per_family_instance_index", "run_name", "run_type", "repetitions",
    "repetition_index", "threads", "aggregate_name", "aggregate_unit", "iterations", "real_time",
    "cpu_time", "time_unit", "items_per_second", "bytes_per_second", "label", "error_occurred",
    "error_message",
}


@dataclass
class Result:
    run_name: str
    ns: float  # median time per iteration, real or CPU (see wall)
    wall: bool  # measured in real time (UseRealTime); else CPU time of the thread
    cv: float | None  # coefficient of variation of that time over the repetitions, 0..1
    items_per_second: float | None
    repetitions: int
    counters: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    counter_cv: dict[str, float] = field(default_factory=dict)
    cpu_ns: float = 0.0  # median CPU time per iteration (summed over threads)

    @property
    def ops_per_second(self) -> float:
        return 1e9 / self.ns if self.ns > 0 else 0.0


def load_results(path: str) -> tuple[dict, dict[str, Result]]:
    with open(path, encoding="utf-8") as file:
        data = json.load(file)
    by_run: dict[str, dict[str, dict]] = {}
    for entry in data.get("benchmarks", []):
        run = entry.get("run_name", entry["name"])
        kind = entry.get("aggregate_name", "iteration") if entry.get("run_type") == "aggregate" \
            else "iteration"
        by_run.setdefault(run, {})
        if entry.get("error_occurred"):
            by_run[run]["error"] = entry
        elif kind == "iteration":
            by_run[run].setdefault("iterations", []).append(entry)
        else:
            by_run[run][kind] = entry
    results: dict[str, Result] = {}
    for run, parts in by_run.items():
        wall = "/real_time" in run or "/manual_time" in run
        basis = "real_time" if wall else "cpu_time"
        if "error" in parts and "median" not in parts:
            entry = parts["error"]
            results[run] = Result(run, 0.0, wall, None, None, 0, {},
                                  entry.get("error_message", "error"))
            continue
        if "median" in parts:
            median = parts["median"]
            cv_entry = parts.get("cv")
            cv = cv_entry[basis] if cv_entry else None
            repetitions = median.get("repetitions", 1)
        else:  # a run without repetitions: the plain iteration entries
            runs = parts.get("iterations", [])
            if not runs:
                continue
            median = sorted(runs, key=lambda e: e[basis])[len(runs) // 2]
            cv, repetitions = None, len(runs)
        unit = TO_NS.get(median.get("time_unit", "ns"), 1.0)
        counters = {k: float(v) for k, v in median.items()
                    if k not in STANDARD_KEYS and isinstance(v, (int, float))}
        counter_cv = {}
        if "median" in parts and parts.get("cv"):
            counter_cv = {k: float(v) for k, v in parts["cv"].items()
                          if k in counters and isinstance(v, (int, float))}
        results[run] = Result(run, median[basis] * unit, wall, cv,
                              median.get("items_per_second"), repetitions, counters,
                              None, counter_cv, median.get("cpu_time", 0.0) * unit)
    return data.get("context", {}), results


def load_memory(path: str | None) -> list[dict]:
    if not path or not os.path.exists(path):
        return []
    probes = []
    with open(path, encoding="utf-8") as file:
        for line in file:
            line = line.strip()
            if line:
                probes.append(json.loads(line))
    return probes


def load_contention(path: str | None) -> dict | None:
    if not path or not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as file:
        text = file.read().strip()
    return json.loads(text) if text else None


def median_of(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


# ---------------------------------------------------------------------------------------------
# Formatting


def fmt_ns(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e4:
        return f"{ns / 1e3:.1f} µs"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def fmt_rate(per_second: float | None) -> str:
    if per_second is None:
        return "–"
    if per_second >= 1e6:
        return f"{per_second / 1e6:.2f} M"
    if per_second >= 1e3:
        return f"{per_second / 1e3:.1f} k"
    return f"{per_second:.0f}"


def fmt_ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def fmt_cv(result: Result) -> str:
    return "–" if result.cv is None else f"{result.cv * 100:.1f}%"


def fmt_bytes(value: float) -> str:
    return f"{value / (1 << 20):.2f} MiB"


# ---------------------------------------------------------------------------------------------
# Machine


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def nproc() -> str:
    try:
        return subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return str(os.cpu_count())


def server_version(binary: str | None) -> str:
    for candidate in [binary, "redis-server"]:
        if not candidate:
            continue
        try:
            out = subprocess.run([candidate, "--version"], capture_output=True, text=True,
                                 check=True, timeout=10).stdout.strip()
            if out:
                return out
        except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
            continue
    return "unknown"


# ---------------------------------------------------------------------------------------------
# Targets


@dataclass
class Verdict:
    target: str
    measured: str
    verdict: str  # PASS, MISS, INFO, or N/A when a benchmark is missing


def build_targets(results: dict[str, Result], memory: list[dict],
                  contention: dict | None = None) -> list[Verdict]:
    def get(run: str) -> Result | None:
        found = results.get(run)
        return found if found and found.error is None and found.ns > 0 else None

    verdicts: list[Verdict] = []

    def ratio_target(target: str, paired: str, layer: str, base: str, minimum: float) -> None:
        """Verdict on the paired median ratio; the separately run benchmarks are shown too."""
        pair, a, b = get(paired), get(layer), get(base)
        unpaired = f"; run apart: {b.ns / a.ns:.2f}×" if a and b else ""
        if pair and "ratio_p50" in pair.counters:
            c = pair.counters
            ratio = c["ratio_p50"]
            verdicts.append(Verdict(
                target,
                f"{ratio:.3f}× paired median ({fmt_ns(c['layer_p50_ns'])} vs "
                f"{fmt_ns(c['base_p50_ns'])}); mean {c['ratio_mean']:.2f}×{unpaired}",
                "PASS" if ratio >= minimum else "MISS"))
        elif a and b:
            ratio = b.ns / a.ns
            verdicts.append(Verdict(
                target, f"{ratio:.2f}× ({fmt_ns(a.ns)} vs {fmt_ns(b.ns)} per call, run apart)",
                "PASS" if ratio >= minimum else "MISS"))
        else:
            verdicts.append(Verdict(target, "not measured", "N/A"))

    ratio_target("CacheManager GET hit ≥ 0.90 × raw hiredis GET (1 thread)", PAIRED_MANAGER_GET,
                 MANAGER_HIT, RAW_GET, 0.90)
    ratio_target("ValkeyClient GET ≥ 0.95 × raw hiredis GET", PAIRED_CLIENT_GET, CLIENT_GET,
                 RAW_GET, 0.95)
    ratio_target("ValkeyClient Pipeline of 100 SET ≥ 0.95 × raw hiredis pipelining",
                 PAIRED_PIPELINE, CLIENT_PIPELINE, RAW_PIPELINE, 0.95)
    ratio_target("CacheManager SET ≥ 0.95 × raw hiredis SET PX", PAIRED_MANAGER_SET, MANAGER_SET,
                 RAW_SET, 0.95)
    # Only paired: a run apart has no baseline of its own (the names below do not exist).
    ratio_target("CacheManager mset of 100 items, fallback on ≥ 0.95 × raw hiredis pipelining "
                 "(SET PX)",
                 PAIRED_MSET, "", "", 0.95)
    for n in CALLERS_THREADS:
        ratio_target(f"CacheManager GET, default settings, ≥ 0.95 × a pool of 16 raw hiredis "
                     f"connections, {n} callers", PAIRED_CALLERS.format(n), "", "", 0.95)
    # ratio_p50 is raw ÷ layer: "≤ 1.3× the raw time" is a ratio of at least 1 / 1.3.
    ratio_target("CacheManager construct + first GET ≤ 1.3 × raw hiredis connect + GET "
                 "(VALKEY_CLUSTER=false)", PAIRED_COLD_START_STANDALONE, "", "", 1 / 1.3)
    ratio_target("CacheManager construct + first GET ≤ 1.3 × raw hiredis connect + GET "
                 "(default VALKEY_CLUSTER=auto: one more round trip to ask)", PAIRED_COLD_START,
                 "", "", 1 / 1.3)
    ratio_target(TLS_GET_TARGET, PAIRED_TLS_GET, TLS_GET, CLIENT_GET, 0.80)
    ratio_target(TLS_PIPELINE_TARGET, PAIRED_TLS_PIPELINE, TLS_PIPELINE, CLIENT_PIPELINE, 0.70)
    ratio_target(TLS_RESUME_TARGET, PAIRED_TLS_CONNECT, CONNECT_RESUMED, CONNECT_FULL, 2.0)
    tls_get, ceiling, plain_ceiling = get(TLS_GET), get(REDIS_BENCHMARK_TLS), \
        get(REDIS_BENCHMARK_PLAIN)
    if tls_get and ceiling and ceiling.items_per_second:
        measured = (f"{tls_get.ops_per_second / ceiling.items_per_second:.2f}× of the ceiling "
                    f"({fmt_rate(tls_get.ops_per_second)}/s vs "
                    f"{fmt_rate(ceiling.items_per_second)}/s, run apart)")
        if plain_ceiling and plain_ceiling.items_per_second:
            measured += (f"; redis-benchmark itself over TLS: "
                         f"{ceiling.items_per_second / plain_ceiling.items_per_second:.2f}× of "
                         "its plaintext rate")
        verdicts.append(Verdict(TLS_CEILING_TARGET, measured, "INFO"))
    else:
        verdicts.append(Verdict(TLS_CEILING_TARGET, "not measured", "N/A"))

    cluster_pair = get(CLUSTER_GET.format(16))
    if cluster_pair and "ratio_p50" in cluster_pair.counters:
        c = cluster_pair.counters
        measured = (f"{c['ratio_p50']:.2f}× paired by phases ("
                    f"{fmt_rate(1e9 / c['layer_p50_ns'])}/s vs "
                    f"{fmt_rate(1e9 / c['base_p50_ns'])}/s); mean {c['ratio_mean']:.2f}×")
        verdicts.append(Verdict(CLUSTER_TARGET, measured, "INFO"))
    else:
        verdicts.append(Verdict(CLUSTER_TARGET, "not measured", "N/A"))

    one, two, four = get(POOL.format(1)), get(POOL.format(2)), get(POOL.format(4))
    work1, work2 = get(MACHINE_WORK.format(1)), get(MACHINE_WORK.format(2))
    if one and four:
        text = (f"4 threads {fmt_rate(four.ops_per_second)}/s = "
                f"{four.ops_per_second / one.ops_per_second:.2f}× of 1 thread "
                f"({fmt_rate(one.ops_per_second)}/s)")
        if two:
            text += f"; 2 threads {two.ops_per_second / one.ops_per_second:.2f}×"
        if work1 and work2:
            text += (f"; machine: 2 threads of independent CPU work = "
                     f"{work2.ops_per_second / work1.ops_per_second:.2f}× of 1")
        verdicts.append(Verdict("4 threads sharing one ValkeyClient (pool of 4) vs 1 thread", text,
                                "INFO"))
    else:
        verdicts.append(Verdict("4 threads sharing one ValkeyClient (pool of 4) vs 1 thread",
                                "not measured", "N/A"))

    timed, plain, healthy = get(MANAGER_OPEN_LATENCY), get(MANAGER_OPEN), get(MANAGER_HIT)
    if timed and "p50_ns" in timed.counters:
        p50, p99 = timed.counters["p50_ns"], timed.counters["p99_ns"]
        overhead = timed.counters.get("timer_overhead_ns", 0.0)
        verdicts.append(Verdict("GET with the breaker open: median ≤ 1 µs",
                                f"{fmt_ns(p50)} (incl. {overhead:.0f} ns of clock reads)",
                                "PASS" if p50 <= 1000 else "MISS"))
        verdicts.append(Verdict("GET with the breaker open: p99 ≤ 5 µs",
                                f"{fmt_ns(p99)} (p99.9 {fmt_ns(timed.counters.get('p999_ns', 0))})",
                                "PASS" if p99 <= 5000 else "MISS"))
        if healthy:
            speedup = healthy.ns / p50
            measured = f"{speedup:.0f}× (median {fmt_ns(p50)} vs healthy GET {fmt_ns(healthy.ns)})"
            if plain:
                measured += f"; {healthy.ns / plain.ns:.0f}× by throughput ({fmt_ns(plain.ns)}/op)"
            verdicts.append(Verdict("GET with the breaker open ≥ 20× faster than a healthy GET",
                                    measured, "PASS" if speedup >= 20 else "MISS"))
    else:
        verdicts.append(Verdict("GET with the breaker open (median, p99, speed-up)",
                                "not measured", "N/A"))

    for keys, label in [(1000, "hot set of 1k keys"), (100000, "uniform over all 100k keys")]:
        single, double = get(FALLBACK_GET.format(keys, 1)), get(FALLBACK_GET.format(keys, 2))
        if single:
            measured = f"{fmt_rate(single.ops_per_second)}/s ({fmt_ns(single.ns)}/get)"
            load, hot = get(MACHINE_LOAD), get(FALLBACK_GET.format(1000, 1))
            if keys == 100000 and load and hot:
                # A cold get does all the work of a hot one and then waits for memory: at least
                # the entry itself (the index slot before it is a second, dependent miss).
                floor_ns = hot.ns + load.ns
                measured += (f"; floor here: a hot-set get ({fmt_ns(hot.ns)}) + one random "
                             f"memory load ({fmt_ns(load.ns)}) = {fmt_ns(floor_ns)} = "
                             f"{fmt_rate(1e9 / floor_ns)}/s, against a budget of 200 ns; "
                             f"measured ≈ hot + {(single.ns - hot.ns) / load.ns:.1f} loads")
            verdicts.append(Verdict(f"Fallback get ≥ 5 M/s on 1 thread ({label})", measured,
                                    "PASS" if single.ops_per_second >= 5e6 else "MISS"))
        if single and double:
            scale = double.ops_per_second / single.ops_per_second
            measured = (f"{scale:.2f}× ({fmt_rate(double.ops_per_second)}/s vs "
                        f"{fmt_rate(single.ops_per_second)}/s)")
            control = get(FALLBACK_UNSHARED.format(keys))
            if control:
                measured += (f"; a cache per thread: "
                             f"{control.ops_per_second / single.ops_per_second:.2f}×")
            if work1 and work2:
                measured += (f"; machine: "
                             f"{work2.ops_per_second / work1.ops_per_second:.2f}×")
            verdict = "PASS" if scale >= 0.95 else "MISS"
            rounds = (contention or {}).get("rounds", [])
            field = "hot" if keys == 1000 else "uniform"
            if rounds:
                # The probe ran only while two CPUs were really free: its verdict wins.
                ratios = [r[f"{field}_two"] / r[f"{field}_one"] for r in rounds]
                probe = median_of(ratios)
                verdict = "PASS" if probe >= 0.95 else "MISS"
                measured = (f"{probe:.2f}× with 2 free CPUs (median of {len(ratios)} probe "
                            f"rounds, {min(ratios):.2f}–{max(ratios):.2f}×; "
                            f"{fmt_rate(median_of([r[f'{field}_two'] for r in rounds]))}/s vs "
                            f"{fmt_rate(median_of([r[f'{field}_one'] for r in rounds]))}/s); "
                            f"suite run: {measured}")
            elif work1 and work2 and work2.ops_per_second / work1.ops_per_second < 1.5:
                # Two threads that never run at the same time cannot contend: the run says
                # nothing about the cost of sharing.
                verdict = f"INCONCLUSIVE ({verdict} as measured)"
                measured += " — no spare CPU for a second thread during this run"
                if contention and contention.get("rounds_tried", 0) > 0:
                    measured += (f", nor in any of the contention probe's "
                                 f"{contention.get('rounds_tried', 0)} rounds")
            verdicts.append(Verdict(
                f"Fallback get: 2 threads not slower than 1 ({label}; 5% noise allowance)",
                measured, verdict))

    stats = get(STATS)
    verdicts.append(Verdict("Stats: recording one operation ≤ 50 ns",
                            fmt_ns(stats.ns) if stats else "not measured",
                            ("PASS" if stats.ns <= 50 else "MISS") if stats else "N/A"))

    mget, sequential, pair = get(CLIENT_MGET), get(CLIENT_SEQUENTIAL), get(PAIRED_MGET)
    if pair and "ratio_p50" in pair.counters:
        c = pair.counters
        speedup = c["ratio_p50"]
        measured = (f"{speedup:.1f}× paired median ({fmt_ns(c['layer_p50_ns'])} vs "
                    f"{fmt_ns(c['base_p50_ns'])}); mean {c['ratio_mean']:.1f}×")
        if mget and sequential:
            measured += f"; run apart {sequential.ns / mget.ns:.1f}×"
        verdicts.append(Verdict("MGET of 100 keys ≥ 10 × faster than 100 sequential GETs",
                                measured, "PASS" if speedup >= 10 else "MISS"))
    elif mget and sequential:
        speedup = sequential.ns / mget.ns
        verdicts.append(Verdict("MGET of 100 keys ≥ 10 × faster than 100 sequential GETs",
                                f"{speedup:.1f}× ({fmt_ns(mget.ns)} vs {fmt_ns(sequential.ns)})",
                                "PASS" if speedup >= 10 else "MISS"))
    else:
        verdicts.append(Verdict("MGET of 100 keys ≥ 10 × faster than 100 sequential GETs",
                                "not measured", "N/A"))

    target = "get_or_compute hit within 10% of a CacheManager GET hit"
    pair, compute, hit = get(PAIRED_COMPUTE), get(MANAGER_COMPUTE), get(MANAGER_HIT)
    if pair and "ratio_p50" in pair.counters:
        c = pair.counters
        overhead = c["layer_p50_ns"] / c["base_p50_ns"] - 1
        measured = (f"{overhead * 100:+.1f}% paired median ({fmt_ns(c['layer_p50_ns'])} vs "
                    f"{fmt_ns(c['base_p50_ns'])}); mean {(1 / c['ratio_mean'] - 1) * 100:+.1f}%")
        if compute and hit:
            measured += f"; run apart {(compute.ns / hit.ns - 1) * 100:+.1f}%"
        verdicts.append(Verdict(target, measured, "PASS" if abs(overhead) <= 0.10 else "MISS"))
    elif compute and hit:
        overhead = compute.ns / hit.ns - 1
        verdicts.append(Verdict(target,
                                f"{overhead * 100:+.1f}% ({fmt_ns(compute.ns)} vs {fmt_ns(hit.ns)})",
                                "PASS" if abs(overhead) <= 0.10 else "MISS"))
    else:
        verdicts.append(Verdict(target, "not measured", "N/A"))

    probe = next((p for p in memory if p.get("value_bytes") == 100), None)
    if probe and probe.get("rss_delta", 0) > 0:
        ratio = probe["accounted_bytes"] / probe["rss_delta"]
        verdicts.append(Verdict(
            "Fallback memory accounting under-counts RSS by ≤ 25% (100k × 100 B)",
            f"bytes() {fmt_bytes(probe['accounted_bytes'])} vs RSS growth "
            f"{fmt_bytes(probe['rss_delta'])}: {ratio:.3f} ({(1 - ratio) * 100:+.1f}% under)",
            "PASS" if ratio >= 0.75 else "MISS"))
    else:
        verdicts.append(Verdict("Fallback memory accounting under-counts RSS by ≤ 25%",
                                "not measured", "N/A"))
    return verdicts


# ---------------------------------------------------------------------------------------------
# The document


def render(context: dict, results: dict[str, Result], memory: list[dict],
           contention: dict | None, args) -> str:
    out: list[str] = []
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    reps = max((r.repetitions for r in results.values()), default=0)
    load = context.get("load_avg") or []
    load_text = ", ".join(f"{v:.2f}" for v in load) if load else "unknown"

    out.append("# Benchmarks")
    out.append("")
    out.append("Generated by `scripts/bench` (do not edit by hand): one run of "
               "`airport_cache_bench` (Google Benchmark) against a private server on 127.0.0.1 "
               "(and a private local cluster for the cluster rows), plus "
               "`airport_cache_bench_memory` and `airport_cache_bench_contention`. Every "
               "ratio compares numbers from this same run.")
    out.append("")
    out.append(f"- Date: {now} (benchmark start {context.get('date', 'unknown')})")
    out.append(f"- Machine: {nproc()} CPUs (`nproc`), {cpu_model()}, Linux {platform.release()}; "
               f"load average at start {load_text}")
    out.append(f"- Server: {server_version(context.get('server_binary'))} "
               f"(`{context.get('server_binary', 'redis-server')}`), "
               f"{context.get('hot_keys', '?')} keys of {context.get('value_bytes', '?')} bytes "
               "pre-filled")
    settings = (f"{reps} repetitions, random interleaving, min time {args.min_time} s per "
                f"repetition; medians shown" if reps else "")
    out.append(f"- Settings: {settings}; release preset (-O3); wall time of `scripts/bench` "
               f"{args.wall_seconds:.0f} s, of which build {args.build_seconds:.0f} s")
    if context.get("library_build_type") == "debug":
        out.append("- Google Benchmark prints \"Library was built as DEBUG\": that is Debian's "
                   "libbenchmark package itself; the code measured is built Release.")
    out.append("")

    # Targets
    verdicts = build_targets(results, memory, contention)
    passed = sum(v.verdict == "PASS" for v in verdicts)
    missed = sum(v.verdict == "MISS" for v in verdicts)
    unclear = sum(v.verdict.startswith("INCONCLUSIVE") for v in verdicts)
    out.append("## Targets")
    out.append("")
    out.append(f"{passed} PASS, {missed} MISS, {unclear} INCONCLUSIVE (verdicts computed from the "
               "numbers below; INCONCLUSIVE: neither the machine calibration of the suite nor "
               "any round of the contention probe saw two threads run at the same time, so a "
               "2-thread target was not really tested).")
    out.append("")
    out.append("| Target | Measured | Verdict |")
    out.append("| --- | --- | --- |")
    for v in verdicts:
        verdict = f"**{v.verdict}**" if v.verdict == "MISS" else v.verdict
        out.append(f"| {v.target} | {v.measured} | {verdict} |")
    out.append("")

    # Paired comparisons
    paired_rows = [(run, layer, base) for run, layer, base in PAIRS
                   if run in results and not results[run].error and results[run].counters]
    if paired_rows:
        out.append("## Paired comparisons (the ratios behind the targets)")
        out.append("")
        out.append("Each iteration makes the baseline call and the layer call back to back, "
                   "alternating which goes first, and times each, so both see the same machine "
                   "state. *ratio* is baseline time ÷ layer time: the layer's throughput relative "
                   "to the baseline (1.00 = parity). The median call is robust to the "
                   "preemption spikes of a shared machine; the mean is shown for completeness. "
                   "Values are medians over the repetitions; *CV* is the spread of the median "
                   "ratio over them.")
        out.append("")
        out.append("| Layer | Baseline | layer p50 | baseline p50 | ratio (p50) | CV | "
                   "layer mean | baseline mean | ratio (mean) |")
        out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for run, layer, base in paired_rows:
            c = results[run].counters
            cv = results[run].counter_cv.get("ratio_p50")
            cv_text = f"{cv * 100:.1f}%" if cv is not None else "–"
            out.append(f"| {layer} | {base} | {fmt_ns(c['layer_p50_ns'])} | "
                       f"{fmt_ns(c['base_p50_ns'])} | {c['ratio_p50']:.3f}× | {cv_text} | "
                       f"{fmt_ns(c['layer_mean_ns'])} | {fmt_ns(c['base_mean_ns'])} | "
                       f"{c['ratio_mean']:.3f}× |")
        out.append("")

    out.extend(per_call_notes(results))
    out.extend(tls_section(context, results, verdicts))
    out.extend(cluster_section(context, results))

    # Thread scaling of the shared client
    pool = [(n, results.get(POOL.format(n))) for n in (1, 2, 4)]
    pool = [(n, r) for n, r in pool if r and not r.error]
    if pool:
        one = pool[0][1]
        work1, work2 = results.get(MACHINE_WORK.format(1)), results.get(MACHINE_WORK.format(2))
        out.append("## One ValkeyClient (pool of 4) shared by 1, 2 and 4 threads")
        out.append("")
        out.append("| Threads | GET/s (total) | vs 1 thread | client CPU per GET | "
                   "server CPU per GET |")
        out.append("| --- | --- | --- | --- | --- |")
        for n, r in pool:
            server_cpu = r.counters.get("server_cpu_us_per_op")
            out.append(f"| {n} | {fmt_rate(r.ops_per_second)} | "
                       f"{r.ops_per_second / one.ops_per_second:.2f}× | "
                       f"{fmt_ns(r.cpu_ns) if r.cpu_ns else '–'} | "
                       f"{f'{server_cpu:.1f} µs' if server_cpu is not None else '–'} |")
        out.append("")
        if work1 and work2 and not work1.error and not work2.error:
            out.append(f"Same run, machine calibration: 2 threads of independent CPU work reach "
                       f"{work2.ops_per_second / work1.ops_per_second:.2f}× of one thread. "
                       "The server (single-threaded) runs on the same CPUs as the client "
                       "threads, and each GET costs CPU on both sides plus two wake-ups, so "
                       "the total cannot exceed what the CPUs left over by the server and "
                       "other load allow; see the CPU columns.")
            out.append("")

    # Every benchmark
    out.append("## Every benchmark")
    out.append("")
    out.append("Median over the repetitions. *time/iter* is wall-clock time for network and "
               "multi-threaded rows (for threads: wall time ÷ all threads' operations, so "
               "*iter/s* is the total), CPU time otherwise. *vs raw* is the throughput ratio to "
               "the row it names (raw hiredis; for TLS rows the plaintext or full-handshake "
               "one; above 1 is faster), from benchmarks run apart: "
               "it carries their noise (*CV*, the spread over the repetitions); the paired "
               "table above is the one to read for layer overheads.")
    out.append("")
    out.append("| Layer | Benchmark | time/iter | iter/s | items/s | CV | vs raw |")
    out.append("| --- | --- | --- | --- | --- | --- | --- |")
    seen = set()
    label_of = {row.run_name: row for row in ROWS}
    ordered = [row for row in ROWS if row.run_name in results]
    paired_names = {run for run, _, _ in PAIRS}
    ordered += [Row("Other", run, run) for run in results
                if run not in label_of and run not in paired_names]
    for row in ordered:
        seen.add(row.run_name)
        result = results[row.run_name]
        if result.error:
            out.append(f"| {row.section} | {row.label} | error: {result.error} | | | | |")
            continue
        base = results.get(row.baseline) if row.baseline else None
        ratio = None
        if base and not base.error and base.ns > 0:
            ratio = base.ns / result.ns
        vs = f"{fmt_ratio(ratio)} {base_label(row.baseline)}" if ratio is not None else "–"
        basis = "" if result.wall else " (CPU)"
        items = fmt_rate(result.items_per_second) if row.unit != "op" else "–"
        out.append(f"| {row.section} | {row.label} `{row.run_name}` | "
                   f"{fmt_ns(result.ns)}{basis} / {row.unit} | {fmt_rate(result.ops_per_second)} | "
                   f"{items} | {fmt_cv(result)} | {vs} |")
    out.append("")

    # Per-call latency counters
    timed = results.get(MANAGER_OPEN_LATENCY)
    if timed and timed.counters:
        c = timed.counters
        out.append("Breaker-open GET, each call timed (median over repetitions of each "
                   "repetition's percentile; every sample includes one pair of clock reads, "
                   f"{c.get('timer_overhead_ns', 0):.0f} ns here): "
                   f"p50 {fmt_ns(c.get('p50_ns', 0))}, p99 {fmt_ns(c.get('p99_ns', 0))}, "
                   f"p99.9 {fmt_ns(c.get('p999_ns', 0))}, max {fmt_ns(c.get('max_ns', 0))}.")
        out.append("")

    # Contention probe
    if contention and contention.get("rounds_tried", 0) > 0:
        rounds = contention.get("rounds", [])
        out.append("## Two threads sharing one FallbackCache, with two CPUs really free")
        out.append("")
        out.append("`airport_cache_bench_contention` alternates a capacity check (two independent "
                   "ALU threads against one) with 150 ms of gets from one and from two threads "
                   "on one 100k-entry cache, and keeps only rounds where both checks around them "
                   f"showed ≥ 1.8× (two CPUs free). Kept {len(rounds)} of "
                   f"{contention.get('rounds_tried', 0)} rounds in "
                   f"{contention.get('budget_seconds', '?')} s.")
        out.append("")
        if rounds:
            out.append("| Round | capacity | hot set: 1 thread | 2 threads | ratio | "
                       "uniform: 1 thread | 2 threads | ratio |")
            out.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
            for n, r in enumerate(rounds, 1):
                out.append(f"| {n} | {r['capacity_before']:.2f}× / {r['capacity_after']:.2f}× | "
                           f"{fmt_rate(r['hot_one'])}/s | {fmt_rate(r['hot_two'])}/s | "
                           f"{r['hot_two'] / r['hot_one']:.2f}× | {fmt_rate(r['uniform_one'])}/s | "
                           f"{fmt_rate(r['uniform_two'])}/s | "
                           f"{r['uniform_two'] / r['uniform_one']:.2f}× |")
            out.append("")

    # Memory
    if memory:
        out.append("## Fallback memory: accounting against RSS")
        out.append("")
        out.append("A fresh process fills a fresh FallbackCache and compares the growth of its "
                   "resident set (`/proc/self/statm`) with the cache's own `bytes()`.")
        out.append("")
        out.append("| Entries | Value bytes | Avg key bytes | RSS growth | bytes() | bytes() ÷ RSS |")
        out.append("| --- | --- | --- | --- | --- | --- |")
        for p in memory:
            ratio = p["accounted_bytes"] / p["rss_delta"] if p.get("rss_delta", 0) > 0 else 0
            out.append(f"| {p['entries']} | {p['value_bytes']} | {p['key_bytes_avg']:.1f} | "
                       f"{fmt_bytes(p['rss_delta'])} | {fmt_bytes(p['accounted_bytes'])} | "
                       f"{ratio:.3f} |")
        out.append("")

    # Reading the numbers
    out.append("## Reading these numbers")
    out.append("")
    notes = noise_notes(results)
    out.extend(f"- {note}" for note in notes)
    out.append("")
    return "\n".join(out)


def per_call_notes(results: dict[str, Result]) -> list[str]:
    """Why the per-call targets sit where they do: what each call costs beyond raw hiredis."""
    def gap(run: str) -> str:
        found = results.get(run)
        if not found or found.error or "layer_p50_ns" not in found.counters:
            return "not measured"
        c = found.counters
        return f"{(c['layer_p50_ns'] - c['base_p50_ns']) / 1000:.1f} µs"

    return [
        "## What a call costs beyond raw hiredis",
        "",
        "- **One system call more per reply.** Raw hiredis in blocking mode makes two system "
        "calls per command: `write` and a blocking `read`. A ValkeyClient connection is "
        "non-blocking and makes three: `sendto`, `ppoll` (with the time left of the call's "
        "deadline, and the cancel descriptor) and `recvfrom`. That `ppoll` is what keeps a "
        "server that drips bytes from stretching a call past its deadline "
        "(docs/architecture.md). `strace -f -c` over 1,000 GETs on one connection counted "
        "2,119 system calls for raw hiredis and 3,121 for ValkeyClient (2026-12-02, this "
        "machine). On this virtual machine one system call costs 1.4-1.6 µs: a `ppoll` that "
        "finds nothing ready, 200,000 times in a loop, took 1,374-1,576 ns each (2026-12-02), "
        "where bare metal takes a few hundred ns. That is the size of the gap in the "
        f"single-call rows above (this run: ValkeyClient GET {gap(PAIRED_CLIENT_GET)}, "
        f"CacheManager SET {gap(PAIRED_MANAGER_SET)} per call) and in the many-callers rows, "
        "where every GET pays it too.",
        "- **The write-through costs no time of its own in mset.** The items go into the "
        "fallback while the server works on the pipeline (`Client::execute_overlapping`). The "
        "baselines of the manager's writes send the same `SET ... PX`, so the server does the "
        "same work on both sides.",
        "- **Cold start.** A new connection's handshake rides with its first command, and the "
        "health check starts at the second command. With `VALKEY_CLUSTER=auto`, the default, "
        "the constructor first asks the server whether it is a cluster (`INFO cluster`, one "
        "round trip on the connection that then serves the first GET): that round trip is "
        "the difference between the two cold-start rows. Set `VALKEY_CLUSTER=false` (or "
        "`true`) when start-up time matters.",
        "",
    ]


def base_label(run_name: str | None) -> str:
    return {
        RAW_GET: "raw GET",
        RAW_GET_MISS: "raw GET miss",
        RAW_SET: "raw SET",
        RAW_PIPELINE: "raw pipeline",
        CLIENT_GET: "plaintext GET",
        CLIENT_PIPELINE: "plaintext pipeline",
        CONNECT_PLAIN: "plaintext connect",
        CONNECT_FULL: "full handshake",
    }.get(run_name or "", "raw")


def openssl_version() -> str:
    """"OpenSSL 3.0.19 27 Jan 2026": the library's version as the CLI reports it."""
    try:
        out = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=True,
                             timeout=10).stdout.strip()
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return "unknown"
    if "(Library: " in out:
        out = out.split("(Library: ", 1)[1].rstrip(")")
    return out or "unknown"


def tls_section(context: dict, results: dict[str, Result], verdicts: list[Verdict]) -> list[str]:
    """The TLS section: the TLS targets against plaintext, the handshake costs, the ceiling."""
    def get(run: str) -> Result | None:
        found = results.get(run)
        return found if found and found.error is None and found.ns > 0 else None

    runs = [TLS_GET, TLS_PIPELINE, CONNECT_FULL, CONNECT_RESUMED, PAIRED_TLS_GET,
            PAIRED_TLS_PIPELINE, PAIRED_TLS_CONNECT, REDIS_BENCHMARK_TLS]
    if not any(run in results for run in runs):
        return []
    out = ["## TLS", ""]
    endpoint = context.get("server_tls_endpoint", "?")
    out.append(f"The same server process listens with TLS on a second port ({endpoint}), so "
               "plaintext and TLS rows hit one server. Its certificate (EC P-256) comes from a "
               "throwaway CA made at the start of the run and removed at its end; the library "
               "verifies the chain and the name on every handshake. Both sides use "
               f"{openssl_version()} (`openssl version`). The targets use the paired "
               "benchmarks (both calls of a pair run back to back, see the paired table above); "
               "a connection row is one `Connection::open` (TCP connect, TLS handshake, one "
               "round trip of INFO server) and its close. *Full*: every connection verifies a "
               "server name no earlier connection used (under a wildcard of the certificate), so "
               "the library has no session to offer; *resumed*: every connection resumes the "
               "session (TLS 1.3 ticket) of the one before. Each connection checks which of the "
               "two it really got.")
    out.append("")
    by_target = {v.target: v for v in verdicts}
    out.append("| Target | TLS | baseline | ratio | Verdict |")
    out.append("| --- | --- | --- | --- | --- |")
    for target, paired, layer, base in [
            (TLS_GET_TARGET, PAIRED_TLS_GET, TLS_GET, CLIENT_GET),
            (TLS_PIPELINE_TARGET, PAIRED_TLS_PIPELINE, TLS_PIPELINE, CLIENT_PIPELINE),
            (TLS_RESUME_TARGET, PAIRED_TLS_CONNECT, CONNECT_RESUMED, CONNECT_FULL)]:
        verdict = by_target.get(target, Verdict(target, "not measured", "N/A")).verdict
        verdict = f"**{verdict}**" if verdict == "MISS" else verdict
        pair, a, b = get(paired), get(layer), get(base)
        if pair and "ratio_p50" in pair.counters:
            c = pair.counters
            out.append(f"| {target} | {fmt_ns(c['layer_p50_ns'])} | {fmt_ns(c['base_p50_ns'])} | "
                       f"{c['ratio_p50']:.2f}× paired median | {verdict} |")
        elif a and b:
            out.append(f"| {target} | {fmt_ns(a.ns)} | {fmt_ns(b.ns)} | {b.ns / a.ns:.2f}× run "
                       f"apart | {verdict} |")
        else:
            out.append(f"| {target} | – | – | – | {verdict} |")
    out.append("")

    apart = []
    tls_get, plain_get = get(TLS_GET), get(CLIENT_GET)
    if tls_get and plain_get:
        apart.append(f"GET {fmt_rate(tls_get.ops_per_second)}/s over TLS vs "
                     f"{fmt_rate(plain_get.ops_per_second)}/s plaintext "
                     f"({plain_get.ns / tls_get.ns:.2f}×)")
    tls_pipe, plain_pipe = get(TLS_PIPELINE), get(CLIENT_PIPELINE)
    if tls_pipe and plain_pipe:
        apart.append(f"Pipeline of 100 SET {fmt_ns(tls_pipe.ns)} vs {fmt_ns(plain_pipe.ns)} "
                     f"({plain_pipe.ns / tls_pipe.ns:.2f}×)")
    plain, full, resumed = get(CONNECT_PLAIN), get(CONNECT_FULL), get(CONNECT_RESUMED)
    connects = [f"{name} {fmt_ns(r.ns)}" for name, r in
                [("plaintext", plain), ("full TLS handshake", full), ("resumed", resumed)] if r]
    if connects:
        text = "open + close a connection: " + ", ".join(connects)
        if full and resumed:
            text += f" (resumed {full.ns / resumed.ns:.2f}× faster than full)"
        apart.append(text)
    if apart:
        out.append("Run apart (each benchmark on its own, medians; noisier than the paired "
                   "ratios): " + "; ".join(apart) + ".")
        out.append("")
    if tls_get and plain_get and "server_cpu_us_per_op" in tls_get.counters \
            and "server_cpu_us_per_op" in plain_get.counters:
        out.append(f"Server CPU per GET: {tls_get.counters['server_cpu_us_per_op']:.1f} µs over "
                   f"TLS, {plain_get.counters['server_cpu_us_per_op']:.1f} µs plaintext (the "
                   "server is single-threaded and shares the CPUs with the client).")
        out.append("")

    ceiling, plain_ceiling = get(REDIS_BENCHMARK_TLS), get(REDIS_BENCHMARK_PLAIN)
    for run, what in [(REDIS_BENCHMARK_TLS, "redis-benchmark --tls"),
                      (REDIS_BENCHMARK_PLAIN, "redis-benchmark (plaintext)")]:
        failed = results.get(run)
        if failed and failed.error:
            out.append(f"{what}: not measured ({failed.error}).")
            out.append("")
    if ceiling and ceiling.items_per_second:
        text = (f"Ceiling: `redis-benchmark --tls -c 1 -P 1`, GETs of one 100-byte key on the same "
                f"TLS port, {ceiling.repetitions} runs of 10k GETs interleaved with the rows above "
                f"(its own timing, run apart): {fmt_rate(ceiling.items_per_second)}/s "
                f"({fmt_ns(1e9 / ceiling.items_per_second)} per GET)")
        if plain_ceiling and plain_ceiling.items_per_second:
            text += (f"; plaintext {fmt_rate(plain_ceiling.items_per_second)}/s, so over TLS "
                     f"redis-benchmark keeps "
                     f"{ceiling.items_per_second / plain_ceiling.items_per_second:.2f}× of its "
                     "plaintext rate")
        text += "."
        if tls_get:
            share = tls_get.ops_per_second / ceiling.items_per_second
            text += (f" ValkeyClient GET over TLS runs at {share:.2f}× of redis-benchmark's "
                     "TLS rate")
            if plain_get and plain_ceiling and plain_ceiling.items_per_second:
                plain_share = plain_get.ops_per_second / plain_ceiling.items_per_second
                text += f" (plaintext: {plain_share:.2f}×)"
            text += "."
            if share >= 1:
                text += (" redis-benchmark is no faster than this client here, so the figure "
                         "to compare is its TLS-to-plaintext ratio, not its rate.")
        out.append(text)
        out.append("")
    return out


def cluster_section(context: dict, results: dict[str, Result]) -> list[str]:
    """The Cluster section: ClusterClient against the standalone client, redis-benchmark
    --cluster as the reference, and what a slot move costs a client that keeps reading."""
    def get(run: str) -> Result | None:
        found = results.get(run)
        return found if found and found.error is None and found.ns > 0 else None

    def ratio_cv(run: str) -> float:
        found = get(run)
        return found.counter_cv.get("ratio_p50", 0.0) if found else 0.0

    runs = ([CLUSTER_GET.format(n) for n in CLUSTER_THREADS] + [CLUSTER_ONE_NODE] +
            [REDIS_BENCHMARK_CLUSTER.format(n) for n in CLUSTER_THREADS] +
            [CLUSTER_SLOT_MOVE.format(n) for n in CLUSTER_SLOT_KEYS] + [CLUSTER_MOVED_GET])
    if not any(run in results for run in runs):
        return []
    out = ["## Cluster", ""]
    out.append("A local cluster of 3 primaries with one replica each (`ClusterProcess` from "
               "`tests/support`: the same server binary as above, every node on 127.0.0.1 and "
               "on the same CPUs as the client), started by the run when the first cluster "
               "benchmark runs and holding the same hot keys as the standalone server. "
               "*ClusterClient vs standalone*: paired by phases: each iteration, every thread "
               "makes 16 GETs through one client, the threads wait for one another, then 16 "
               "GETs each through the other (alternating which goes first); a phase's wall time "
               "÷ its GETs is the inverse of the total throughput, so *ratio* is the cluster's "
               "GET throughput ÷ the standalone server's under the same machine state. Both "
               "clients have a pool of one connection per thread (the cluster client: per "
               "primary); every thread reads its own stretch of the hot keys, which the cluster "
               "spreads over its 3 primaries. *redis-benchmark*: `redis-benchmark --cluster "
               "--threads 1 -t get -P 1 -d 100` with 1 or 16 connections on the same cluster, "
               "interleaved with the rows above (its own timing, run apart): one event loop, "
               "one GET in flight per connection, one key per connection. (Without --threads 1 "
               "it runs a thread per primary, and its reported time ends on a 250 ms timer "
               "tick.)")
    out.append("")
    failures = []
    for run in runs:
        failed = results.get(run)
        if failed and failed.error:
            failures.append(f"`{run}`: {failed.error}")
    if failures:
        out.append("Not measured: " + "; ".join(failures) + ".")
        out.append("")

    rows = []
    for n in CLUSTER_THREADS:
        pair, reference = get(CLUSTER_GET.format(n)), get(REDIS_BENCHMARK_CLUSTER.format(n))
        if not pair or "ratio_p50" not in pair.counters:
            continue
        c = pair.counters
        cluster_rate, standalone_rate = 1e9 / c["layer_p50_ns"], 1e9 / c["base_p50_ns"]
        cv = pair.counter_cv.get("ratio_p50")
        reference_rate = reference.items_per_second if reference else None
        share = f"{cluster_rate / reference_rate:.2f}×" if reference_rate else "–"
        rows.append(f"| {n} | {fmt_rate(cluster_rate)} | {fmt_rate(standalone_rate)} | "
                    f"**{c['ratio_p50']:.2f}×** | {c['ratio_mean']:.2f}× | "
                    f"{f'{cv * 100:.1f}%' if cv is not None else '–'} | "
                    f"{fmt_rate(reference_rate)} | {share} |")
    if rows:
        out.append("| Threads | ClusterClient GET/s | standalone ValkeyClient GET/s | "
                   "ratio (p50) | ratio (mean) | CV | redis-benchmark --cluster GET/s "
                   "(as many connections) | ClusterClient ÷ redis-benchmark |")
        out.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
        out.extend(rows)
        out.append("")
        text = ("Each column is its own median over the repetitions (the rates from each "
                "repetition's median phase), so when the CV is large the two rates need not "
                "give the ratio beside them; the ratio is the figure to read.")
        noisy = [n for n in CLUSTER_THREADS if ratio_cv(CLUSTER_GET.format(n)) > 0.20]
        if noisy:
            threads = ", ".join(f"{n} thread{'s' if n > 1 else ''}" for n in noisy)
            text += (f" A CV above 20% ({threads}) means the repetitions disagree: on a shared "
                     "machine one server process's round trip can jump several-fold for a "
                     "whole repetition, and the cluster's three primaries are three times as "
                     "exposed to that as the one standalone server. The routing-only ratio "
                     "below pairs one server process with itself and is the stable figure for "
                     "the client's own cost.")
        out.append(text)
        out.append("")
        sixteen = get(CLUSTER_GET.format(16))
        if sixteen and "ratio_p50" in sixteen.counters:
            ratio = sixteen.counters["ratio_p50"]
            text = (f"With 16 threads the cluster client reaches {ratio:.2f}× the standalone "
                    "client's GET throughput")
            one = get(CLUSTER_GET.format(1))
            if one and "ratio_p50" in one.counters:
                text += f" (1 thread: {one.counters['ratio_p50']:.2f}×)"
            work1, work2 = get(MACHINE_WORK.format(1)), get(MACHINE_WORK.format(2))
            text += (". Every server process, the cluster's six and the standalone one, "
                     "shares the CPUs with the client threads")
            if work1 and work2:
                text += (f" (2 threads of independent CPU work reach "
                         f"{work2.ops_per_second / work1.ops_per_second:.2f}× of one here)")
            text += (", so the cluster brings no CPU of its own: all it can gain is server work "
                     "spread over three processes instead of one. The ratio shows what routing "
                     "and the cluster's extra processes cost on one machine, not what a cluster "
                     "of separate machines would gain.")
            out.append(text)
            out.append("")
    one_node = get(CLUSTER_ONE_NODE)
    if one_node and "ratio_p50" in one_node.counters:
        c = one_node.counters
        cv = one_node.counter_cv.get("ratio_p50")
        text = ("The routing alone (`BM_Cluster_GetOneNode`, 1 thread, paired call by call): the "
                "ClusterClient reading keys that all live on one primary runs at "
                f"{c['ratio_p50']:.3f}× the throughput of a ValkeyClient connected to that "
                f"primary directly ({fmt_ns(c['layer_p50_ns'])} vs {fmt_ns(c['base_p50_ns'])} "
                f"per GET, median; mean {c['ratio_mean']:.3f}×")
        if cv is not None:
            text += f"; CV {cv * 100:.1f}%"
        text += ")."
        spread = get(CLUSTER_GET.format(1))
        if spread and "ratio_p50" in spread.counters and \
                spread.counters["ratio_p50"] < c["ratio_p50"] - 0.05:
            text += (f" The rest of the gap to the 1-thread ratio above "
                     f"({spread.counters['ratio_p50']:.2f}×) is not the client's code: it "
                     "comes with spreading successive GETs over three server processes that "
                     "share the CPUs (each GET wakes a different one).")
        out.append(text)
        out.append("")

    moves = [(n, get(CLUSTER_SLOT_MOVE.format(n))) for n in CLUSTER_SLOT_KEYS]
    moves = [(n, r) for n, r in moves if r and "steady_ms" in r.counters]
    if moves:
        out.append("### A slot move under reads")
        out.append("")
        out.append("`ClusterProcess::migrate_slot` moves one slot holding N keys to another "
                   "primary (CLUSTER SETSLOT IMPORTING / MIGRATING, MIGRATE in batches of 100, "
                   "SETSLOT NODE on every primary, then a wait until all nodes agree) while one "
                   "ClusterClient keeps reading those N keys in turn on a thread of its own. "
                   "While the keys move it follows ASK; the source's SETSLOT NODE turns that into "
                   "one MOVED, which patches its slot map and asks the background refresher for "
                   "a full CLUSTER SHARDS read; "
                   "after it the client goes to the new owner directly, so the last redirected "
                   "GET is the MOVED one and the first is normally an ASK. *Steady state*: the "
                   "end of that last redirected GET, after which none is for the rest of a "
                   "200 ms window. Medians of each repetition's median over 3 moves, then over "
                   "the repetitions. *Redirects*: `ClusterClient::redirects()`, ASK and MOVED.")
        out.append("")
        out.append("| Keys in the slot | time to steady state | migrate_slot took | redirects | "
                   "redirected GETs | GETs until steady | first redirected GET | "
                   "the MOVED GET | slowest GET | normal GET before the move |")
        out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for n, r in moves:
            c = r.counters
            out.append(f"| {n} | {c['steady_ms']:.1f} ms | {c.get('migration_ms', 0):.1f} ms | "
                       f"{c.get('redirects', 0):.0f} | {c.get('redirected_gets', 0):.0f} | "
                       f"{c.get('gets_to_steady', 0):.0f} | "
                       f"{fmt_ns(c.get('first_redirect_ns', 0))} | "
                       f"{fmt_ns(c.get('moved_get_ns', 0))} | "
                       f"{fmt_ns(c.get('worst_get_ns', 0))} | "
                       f"{fmt_ns(c.get('normal_get_ns', 0))} |")
        out.append("")
        out.append("The redirected GETs of a move overlap the migration itself: a GET that "
                   "reaches the source while it runs a MIGRATE batch waits for that batch, and "
                   "the MOVED GET overlaps the harness's last SETSLOT NODE commands and its "
                   "polling of every node for agreement, so these latencies are what a reading "
                   "client sees during a move, not the cost of a redirect alone (next "
                   "paragraph).")
        out.append("")

    moved = get(CLUSTER_MOVED_GET)
    if moved and "moved_get_ns" in moved.counters:
        c = moved.counters
        out.append(f"A MOVED alone (`BM_Cluster_MovedGet`): a slot moves between two GETs of the "
                   "client, which then reads other keys for 150 ms and then a key of the moved "
                   "slot: one redirect (the GET to the old owner, MOVED, the GET to the new owner; "
                   "the full map is read again on the client's background thread, which shares "
                   "the CPUs). That GET takes "
                   f"{fmt_ns(c['moved_get_ns'])} against {fmt_ns(c.get('normal_get_ns', 0))} for "
                   "the GETs just before it: "
                   f"{c.get('moved_vs_normal', 0):.1f}× (medians over 10 moves per repetition).")
        out.append("")
    return out


def noise_notes(results: dict[str, Result]) -> list[str]:
    notes = []
    paired_names = {run for run, _, _ in PAIRS}

    # The cluster GET pairs report ratio counters as the paired benchmarks do.
    paired_names |= {CLUSTER_GET.format(n) for n in CLUSTER_THREADS} | {CLUSTER_ONE_NODE}

    def is_network(run: str) -> bool:
        return (run.startswith(("BM_Raw", "BM_Client", "BM_Tls", "BM_RedisBenchmark",
                                "BM_Cluster")) or
                (run.startswith("BM_Manager") and "BreakerOpen" not in run))

    measured = [r for r in results.values() if r.cv is not None and r.run_name not in paired_names]
    network = [r for r in measured if is_network(r.run_name)]
    local = [r for r in measured if not is_network(r.run_name)]
    paired = [r.counter_cv["ratio_p50"] for r in results.values()
              if r.run_name in paired_names and "ratio_p50" in r.counter_cv]
    if network:
        worst = max(network, key=lambda r: r.cv)
        median_cv = median_of([r.cv for r in network])
        notes.append(f"Network rows run apart: median CV {median_cv * 100:.1f}%, worst "
                     f"{worst.cv * 100:.1f}% (`{worst.run_name}`). A loopback round trip "
                     "dominates every network call and moves with the scheduler and the other "
                     "load on this shared machine, so their *vs raw* column is noise-bound.")
    if paired:
        notes.append(f"Paired ratios: CV of the median ratio over the repetitions "
                     f"{min(paired) * 100:.1f}–{max(paired) * 100:.1f}% (median "
                     f"{median_of(paired) * 100:.1f}%): the numbers the targets use.")
    if local:
        worst = max(local, key=lambda r: r.cv)
        median_cv = median_of([r.cv for r in local])
        notes.append(f"In-process rows: median CV {median_cv * 100:.1f}%, worst "
                     f"{worst.cv * 100:.1f}% (`{worst.run_name}`).")
    work1, work2 = results.get(MACHINE_WORK.format(1)), results.get(MACHINE_WORK.format(2))
    if work1 and work2 and not work1.error and not work2.error:
        notes.append(f"Two threads of independent CPU work run "
                     f"{work2.ops_per_second / work1.ops_per_second:.2f}× as fast as one on this "
                     "machine: the ceiling for any 2-thread scaling result above. The server "
                     "shares the same CPUs as the client threads.")
    load = results.get(MACHINE_LOAD)
    if load and not load.error:
        notes.append(f"One random memory load in 32 MiB costs {fmt_ns(load.ns)} here: a get at a "
                     "uniformly random entry of a 100k-entry cache (~23 MiB) pays at least one "
                     "such miss, which bounds the uniform fallback row.")
    clock = results.get(MACHINE_CLOCK)
    if clock and not clock.error:
        notes.append(f"One steady_clock::now() costs {fmt_ns(clock.ns)} here (a VM's clock "
                     "source): every fallback get of an entry with a TTL pays one for its "
                     "expiry check, and the breaker-open GET pays it for its latency stats.")
    notes.append("Re-run with `scripts/bench`; pass Google Benchmark flags to run a subset "
                 "(the report then goes to `build/release/benchmarks.md`, not here).")
    return notes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", required=True, help="Google Benchmark JSON output")
    parser.add_argument("--memory", help="airport_cache_bench_memory output, one JSON per line")
    parser.add_argument("--contention", help="airport_cache_bench_contention output (JSON)")
    parser.add_argument("--out", required=True, help="markdown file to write")
    parser.add_argument("--min-time", default="?", help="--benchmark_min_time used")
    parser.add_argument("--wall-seconds", type=float, default=0.0)
    parser.add_argument("--build-seconds", type=float, default=0.0)
    args = parser.parse_args()

    context, results = load_results(args.bench)
    if not results:
        print(f"bench_report: no benchmark results in {args.bench}", file=sys.stderr)
        return 1
    memory = load_memory(args.memory)
    contention = load_contention(args.contention)
    text = render(context, results, memory, contention, args)
    with open(args.out, "w", encoding="utf-8") as file:
        file.write(text)
    for verdict in build_targets(results, memory, contention):
        print(f"  {verdict.verdict}  {verdict.target}: {verdict.measured}")
    print(f"bench_report: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

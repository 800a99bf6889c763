// SPDX-License-Identifier: BSD-3-Clause
#include "support/reference_model.hpp"

#include <algorithm>
#include <limits>
#include <unordered_map>

#include <fmt/format.h>

namespace airport::cache::testing {
namespace {

// Padding starts at this byte; the stamp before it identifies the write.
constexpr char kPaddingMark = '~';

std::string_view stamp_of(std::string_view value) {
  return value.substr(0, value.find(kPaddingMark));
}

struct Op {
  ReferenceModel::TimePoint invoke;
  ReferenceModel::TimePoint response;
  bool acknowledged = true;
  bool is_delete = false;
  std::string_view stamp;  // writes only
};

}  // namespace

std::string ReferenceModel::Recorder::next_value(std::string_view key, std::size_t padding) {
  std::string value = fmt::format("{}#{}.{}", key, id_, ++sequence_);
  if (padding > 0) {
    value.push_back(kPaddingMark);
    value.append(padding - 1, 'p');
  }
  return value;
}

void ReferenceModel::Recorder::write(std::string_view key, std::string_view value, TimePoint invoke,
                                     TimePoint response, bool acknowledged) {
  events_.push_back({Kind::Write, std::string(key), std::string(stamp_of(value)), invoke, response,
                     acknowledged});
}

void ReferenceModel::Recorder::del(std::string_view key, TimePoint invoke, TimePoint response) {
  events_.push_back({Kind::Delete, std::string(key), std::nullopt, invoke, response, true});
}

void ReferenceModel::Recorder::read(std::string_view key, const std::optional<std::string>& value,
                                    TimePoint invoke, TimePoint response) {
  std::optional<std::string> stamp;
  if (value) {
    stamp = std::string(stamp_of(*value));
  }
  events_.push_back({Kind::Read, std::string(key), std::move(stamp), invoke, response, true});
}

ReferenceModel::ReferenceModel(std::size_t recorders) {
  recorders_.reserve(recorders);
  for (std::size_t i = 0; i < recorders; ++i) {
    recorders_.push_back(Recorder(static_cast<std::uint32_t>(i)));
  }
}

ReferenceModel::Verdict ReferenceModel::check(std::size_t max_examples,
                                              const std::vector<std::size_t>* include) const {
  std::vector<const Recorder::Event*> events;
  for (std::size_t i = 0; i < recorders_.size(); ++i) {
    if (include != nullptr && std::find(include->begin(), include->end(), i) == include->end()) {
      continue;
    }
    for (const auto& event : recorders_[i].events_) {
      events.push_back(&event);
    }
  }
  TimePoint origin = TimePoint::max();
  for (const auto* event : events) {
    origin = std::min(origin, event->invoke);
  }
  const auto ms = [origin](TimePoint at) {
    return std::chrono::duration<double, std::milli>(at - origin).count();
  };

  Verdict verdict;
  std::unordered_map<std::string_view, std::vector<Op>> ops_by_key;
  std::unordered_map<std::string_view, const Recorder::Event*> write_of_stamp;
  for (const auto* event : events) {
    if (event->kind == Recorder::Kind::Read) {
      continue;
    }
    ++verdict.writes;
    Op op{event->invoke,
          event->response,
          event->acknowledged,
          event->kind == Recorder::Kind::Delete,
          {}};
    if (!op.is_delete) {
      op.stamp = *event->value;
      write_of_stamp.emplace(*event->value, event);
    }
    ops_by_key[event->key].push_back(op);
  }

  // Per key: the ops by invoke time, and for each position the op that completed first among
  // it and all later-invoked ones. "Some op invoked after t completed before u" is then one
  // binary search and one comparison.
  struct KeyIndex {
    std::vector<Op> ops;
    std::vector<std::size_t> earliest_response_from;
  };
  std::unordered_map<std::string_view, KeyIndex> index;
  for (auto& [key, ops] : ops_by_key) {
    std::sort(ops.begin(), ops.end(), [](const Op& a, const Op& b) { return a.invoke < b.invoke; });
    KeyIndex entry{std::move(ops), {}};
    entry.earliest_response_from.resize(entry.ops.size());
    for (std::size_t i = entry.ops.size(); i-- > 0;) {
      const bool last = i + 1 == entry.ops.size();
      entry.earliest_response_from[i] =
          !last && entry.ops[entry.earliest_response_from[i + 1]].response < entry.ops[i].response
              ? entry.earliest_response_from[i + 1]
              : i;
    }
    index.emplace(key, std::move(entry));
  }

  const auto report = [&](const Recorder::Event& read, std::string reason) {
    ++verdict.stale_reads;
    if (verdict.examples.size() < max_examples) {
      verdict.examples.push_back(
          {read.key, *read.value,
           fmt::format("read of {} at [{:.1f}, {:.1f}] ms returned {}: {}", read.key,
                       ms(read.invoke), ms(read.response), *read.value, reason)});
    }
  };

  for (const auto* event : events) {
    if (event->kind != Recorder::Kind::Read) {
      continue;
    }
    const Recorder::Event& read = *event;
    if (!read.value) {
      ++verdict.misses;
      continue;
    }
    ++verdict.reads;
    const auto found = write_of_stamp.find(*read.value);
    if (found == write_of_stamp.end() || found->second->key != read.key) {
      ++verdict.unknown_values;
      report(read, found == write_of_stamp.end() ? "no write produced this value"
                                                 : "the value belongs to another key");
      continue;
    }
    const Recorder::Event& source = *found->second;
    if (source.invoke > read.response) {
      ++verdict.unknown_values;
      report(read,
             fmt::format("its write began at {:.1f} ms, after the read ended", ms(source.invoke)));
      continue;
    }
    const KeyIndex& key_index = index.at(read.key);
    const auto first_later =
        std::upper_bound(key_index.ops.begin(), key_index.ops.end(), source.response,
                         [](TimePoint at, const Op& op) { return at < op.invoke; });
    if (first_later == key_index.ops.end()) {
      continue;
    }
    const auto position = static_cast<std::size_t>(first_later - key_index.ops.begin());
    const Op& newer = key_index.ops[key_index.earliest_response_from[position]];
    if (newer.response >= read.invoke) {
      continue;
    }
    if (!newer.acknowledged) {
      ++verdict.stale_after_failed_write;
    }
    report(read,
           fmt::format("written [{:.1f}, {:.1f}] ms, but a newer {} [{:.1f}, {:.1f}] ms had "
                       "completed before the read began",
                       ms(source.invoke), ms(source.response),
                       newer.is_delete ? std::string("del")
                                       : fmt::format("{} set of {}",
                                                     newer.acknowledged ? "acknowledged" : "failed",
                                                     newer.stamp),
                       ms(newer.invoke), ms(newer.response)));
  }
  return verdict;
}

}  // namespace airport::cache::testing

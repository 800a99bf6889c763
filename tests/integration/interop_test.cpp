// SPDX-License-Identifier: BSD-3-Clause
// One Valkey shared with the workshop's Python services: values written exactly as the original
// Python layer wrote them are read through get<T>, and values written with set<T> are read back
// by the original's rule (json.loads, else the raw string), run by python3 itself. Nothing is
// deleted along the way. docs/interop.md has the table these tests hold to.
#include <gtest/gtest.h>
#include <airport/cache/manager.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include "support/sample_flight.hpp"
#include "support/server.hpp"

namespace app {
struct Weather {
  std::string city;
  friend bool operator==(const Weather&, const Weather&) = default;
};
void to_json(nlohmann::json& json, const Weather& weather) {
  json = {{"city", weather.city}};
}
void from_json(const nlohmann::json& json, Weather& weather) {
  json.at("city").get_to(weather.city);
}
}  // namespace app

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::ServerProcess;

// Runs a python3 program with `input` on its stdin and returns its stdout. Throws, saying so,
// when python3 is missing or the program fails: the test must not pass without it.
std::string run_python(const std::string& program, const std::string& input) {
  static const bool available = std::system("python3 -c pass >/dev/null 2>&1") == 0;
  if (!available) {
    throw std::runtime_error(
        "python3 is not on PATH: the interop test runs the original's json.loads in python3 "
        "and cannot check anything without it");
  }
  static int counter = 0;
  const auto dir = std::filesystem::temp_directory_path();
  const auto stem =
      "airport-interop-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
  const auto script = dir / (stem + ".py");
  const auto stdin_file = dir / (stem + ".in");
  std::ofstream{script, std::ios::binary} << program;
  std::ofstream{stdin_file, std::ios::binary} << input;
  const std::string command =
      "PYTHONIOENCODING=utf-8 python3 '" + script.string() + "' < '" + stdin_file.string() + "'";
  std::FILE* pipe = ::popen(command.c_str(), "r");
  std::string output;
  if (pipe != nullptr) {
    char buffer[4096];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;)
      output.append(buffer, n);
  }
  const int status = pipe != nullptr ? ::pclose(pipe) : -1;
  std::filesystem::remove(script);
  std::filesystem::remove(stdin_file);
  if (status != 0)
    throw std::runtime_error("python3 failed (status " + std::to_string(status) + ") on: " + input);
  return output;
}

// One python3 run for many inputs (python3 starts slowly on a busy machine): the inputs go in
// separated by NUL, which none of them holds, and the outputs come back the same way.
std::vector<std::string> run_python_each(const std::string& per_input,
                                         const std::vector<std::string>& inputs) {
  std::string joined;
  for (const std::string& input : inputs) {
    if (input.find('\0') != std::string::npos)
      throw std::invalid_argument("run_python_each: an input holds NUL");
    joined += input;
    joined += '\0';
  }
  const std::string output = run_python(
      "import json, sys\n"
      "def one(text):\n" +
          per_input +
          "inputs = sys.stdin.buffer.read().decode('utf-8').split('\\0')[:-1]\n"
          "sys.stdout.write(''.join(one(text) + '\\0' for text in inputs))\n",
      joined);
  std::vector<std::string> results;
  for (std::size_t start = 0, end; (end = output.find('\0', start)) != std::string::npos;
       start = end + 1)
    results.push_back(output.substr(start, end - start));
  if (results.size() != inputs.size())
    throw std::runtime_error("python3 answered " + std::to_string(results.size()) + " of " +
                             std::to_string(inputs.size()) + " inputs: " + output);
  return results;
}

// What the original Python layer stored for each Python expression: json.dumps for a dict, list
// or tuple, str() for anything else.
std::vector<std::string> python_stores(const std::vector<std::string>& expressions) {
  return run_python_each(
      "    value = eval(text)\n"
      "    return json.dumps(value) if isinstance(value, (dict, list, tuple)) else str(value)\n",
      expressions);
}

// What the original's get() returned for each of these bytes: json.loads, else the raw string.
// Rendered as "<type> <repr>", e.g. "int 123", "str 'locked'", "dict {'a': 1}".
std::vector<std::string> python_reads(const std::vector<std::string>& stored) {
  return run_python_each(
      "    try:\n"
      "        value = json.loads(text)\n"
      "    except ValueError:\n"
      "        value = text\n"
      "    return type(value).__name__ + ' ' + repr(value)\n",
      stored);
}

// A value as the original Python layer wrote it: `expected` is a literal (so that the table in
// docs/interop.md stays honest), checked against what python3 itself stores for `expression`.
struct PythonValue {
  std::string key;
  std::string expression;
  std::string expected;
};

class Interop : public ::testing::Test {
 protected:
  ServerProcess server;
  testing::RawClient raw = server.client();
  CacheManager cache{server.config()};
  std::map<std::string, std::string> written;  // every key this test wrote, with its bytes

  // Stores each value the way the original did, after checking the literal bytes.
  void python_set(const std::vector<PythonValue>& values) {
    std::vector<std::string> expressions;
    for (const PythonValue& value : values)
      expressions.push_back(value.expression);
    const std::vector<std::string> stored = python_stores(expressions);
    for (std::size_t i = 0; i < values.size(); ++i) {
      EXPECT_EQ(stored[i], values[i].expected) << "the original stores " << values[i].expression;
      raw.set(values[i].key, values[i].expected);
      written[values[i].key] = values[i].expected;
    }
  }

  template <class T>
  std::string cpp_set(const std::string& key, const T& value) {
    EXPECT_TRUE(cache.set(key, value, 600s)) << key;
    std::optional<std::string> bytes = raw.get(key);
    EXPECT_TRUE(bytes.has_value()) << key;
    written[key] = bytes.value_or("");
    return bytes.value_or("");
  }

  void expect_nothing_deleted() {
    for (const auto& [key, bytes] : written)
      EXPECT_EQ(raw.get(key), bytes) << key << " changed or vanished";
  }
};

TEST_F(Interop, ValuesTheOriginalWroteReadThroughTypedGet) {
  python_set({
      {"py:dict", R"({"a": 1, "b": [1, 2]})", R"({"a": 1, "b": [1, 2]})"},
      {"py:flight", R"({"number": "UA1", "origin": "SFO", "seats_left": 3})",
       R"({"number": "UA1", "origin": "SFO", "seats_left": 3})"},
      {"py:list", "[1, 2, 3]", "[1, 2, 3]"},
      {"py:tuple", R"(("LAX", "JFK"))", R"(["LAX", "JFK"])"},
      {"py:int", "42", "42"},
      {"py:float", "299.99", "299.99"},
      {"py:str", "'locked'", "locked"},
      {"py:str-of-digits", "'123'", "123"},
      {"py:true", "True", "True"},
      {"py:false", "False", "False"},
      {"py:none", "None", "None"},
      {"py:utf8", R"({"city": "Zürich"})", R"({"city": "Z\u00fcrich"})"},
      {"py:nan", "float('nan')", "nan"},
      {"py:inf", "float('-inf')", "-inf"},
      {"py:dict-with-nan", R"({"price": float('nan')})", R"({"price": NaN})"},
  });

  EXPECT_EQ(cache.get<json>("py:dict"), (json{{"a", 1}, {"b", {1, 2}}}));
  EXPECT_EQ(cache.get<app::Flight>("py:flight"), (app::Flight{"UA1", "SFO", 3}));
  EXPECT_EQ(cache.get<std::vector<int>>("py:list"), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(cache.get<std::vector<std::string>>("py:tuple"),
            (std::vector<std::string>{"LAX", "JFK"}));
  EXPECT_EQ(cache.get<int>("py:int"), 42);
  EXPECT_EQ(cache.get<json>("py:int"), json(42));
  EXPECT_EQ(cache.get<double>("py:int"), 42.0);
  EXPECT_EQ(cache.get<double>("py:float"), 299.99);
  EXPECT_EQ(cache.get<json>("py:float"), json(299.99));
  EXPECT_EQ(cache.get<std::string>("py:str"), "locked");
  EXPECT_EQ(cache.get<json>("py:str"), json("locked"));
  EXPECT_EQ(cache.get<std::string>("py:str-of-digits"), "123");
  EXPECT_EQ(cache.get<int>("py:str-of-digits"), 123);
  EXPECT_EQ(cache.get<json>("py:str-of-digits"), json(123));  // as the original read it
  EXPECT_EQ(cache.get<bool>("py:true"), true);
  EXPECT_EQ(cache.get<bool>("py:false"), false);
  EXPECT_EQ(cache.get<json>("py:true"), json("True"));  // as the original read it
  const auto none = cache.get<std::optional<int>>("py:none");
  ASSERT_TRUE(none.has_value()) << "a stored None is a hit of no value";
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(cache.get<int>("py:none"), std::nullopt);
  EXPECT_EQ(cache.get<std::optional<double>>("py:float"), std::optional<double>{299.99});
  EXPECT_EQ(cache.get<app::Weather>("py:utf8"), app::Weather{"Z\xC3\xBCrich"});
  EXPECT_EQ(cache.get<json>("py:utf8"), (json{{"city", "Z\xC3\xBCrich"}}));
  EXPECT_TRUE(std::isnan(cache.get<double>("py:nan").value_or(0.0)));
  EXPECT_EQ(cache.get<double>("py:inf"), -std::numeric_limits<double>::infinity());
  const auto prices = cache.get<std::map<std::string, double>>("py:dict-with-nan");
  ASSERT_TRUE(prices.has_value());
  EXPECT_TRUE(std::isnan(prices->at("price")));

  EXPECT_EQ(cache.stats().errors.count(ErrorCategory::Serialization), 0u);
  expect_nothing_deleted();
}

TEST_F(Interop, ValuesWrittenWithSetReadBackByTheOriginalsRule) {
  struct Case {
    std::string key;
    std::string bytes;        // what set<T> stored
    std::string python_gets;  // "<type> <repr>" of the original's get()
  };
  const std::vector<Case> cases{
      {"cpp:json", cpp_set("cpp:json", json{{"a", 1}, {"b", {1, 2}}}),
       "dict {'a': 1, 'b': [1, 2]}"},
      {"cpp:flight", cpp_set("cpp:flight", app::Flight{"UA1", "SFO", 3}),
       "dict {'number': 'UA1', 'origin': 'SFO', 'seats_left': 3}"},
      {"cpp:list", cpp_set("cpp:list", std::vector<int>{1, 2, 3}), "list [1, 2, 3]"},
      {"cpp:int", cpp_set("cpp:int", 42), "int 42"},
      {"cpp:double", cpp_set("cpp:double", 299.99), "float 299.99"},
      {"cpp:whole-double", cpp_set("cpp:whole-double", 42.0), "float 42.0"},
      {"cpp:nan", cpp_set("cpp:nan", std::numeric_limits<double>::quiet_NaN()), "float nan"},
      {"cpp:inf", cpp_set("cpp:inf", std::numeric_limits<double>::infinity()), "float inf"},
      {"cpp:true", cpp_set("cpp:true", true), "bool True"},
      {"cpp:false", cpp_set("cpp:false", false), "bool False"},
      {"cpp:string", cpp_set("cpp:string", std::string{"locked"}), "str 'locked'"},
      // The original's own rule: a string of digits comes back a number, as it did for Python.
      {"cpp:digits", cpp_set("cpp:digits", std::string{"123"}), "int 123"},
      {"cpp:json-string", cpp_set("cpp:json-string", json("123")), "str '123'"},
      {"cpp:none", cpp_set("cpp:none", std::optional<int>{}), "NoneType None"},
      {"cpp:json-null", cpp_set("cpp:json-null", json(nullptr)), "NoneType None"},
      {"cpp:maybe", cpp_set("cpp:maybe", std::optional<int>{7}), "int 7"},
      {"cpp:utf8", cpp_set("cpp:utf8", app::Weather{"Z\xC3\xBCrich"}),
       "dict {'city': 'Z\xC3\xBCrich'}"},
  };
  std::vector<std::string> stored;
  for (const Case& one : cases)
    stored.push_back(one.bytes);
  const std::vector<std::string> read = python_reads(stored);
  for (std::size_t i = 0; i < cases.size(); ++i)
    EXPECT_EQ(read[i], cases[i].python_gets) << cases[i].key << " holds " << cases[i].bytes;

  // And each reads back on this side as it was written.
  EXPECT_EQ(cache.get<json>("cpp:json"), (json{{"a", 1}, {"b", {1, 2}}}));
  EXPECT_EQ(cache.get<app::Flight>("cpp:flight"), (app::Flight{"UA1", "SFO", 3}));
  EXPECT_EQ(cache.get<double>("cpp:double"), 299.99);
  EXPECT_TRUE(std::isnan(cache.get<double>("cpp:nan").value_or(0.0)));
  EXPECT_EQ(cache.get<bool>("cpp:true"), true);
  EXPECT_EQ(cache.get<std::string>("cpp:digits"), "123");
  EXPECT_EQ(cache.get<json>("cpp:json-string"), json("123"));
  EXPECT_EQ(cache.get<std::optional<int>>("cpp:none"),
            std::optional<std::optional<int>>{std::optional<int>{}});
  EXPECT_EQ(cache.get<app::Weather>("cpp:utf8"), app::Weather{"Z\xC3\xBCrich"});
  EXPECT_EQ(cache.stats().errors.count(ErrorCategory::Serialization), 0u);
  expect_nothing_deleted();
}

TEST_F(Interop, ReadingAnotherServicesValueWithTheWrongTypeDestroysNothing) {
  python_set({{"py:dict", R"({"a": 1, "b": [1, 2]})", R"({"a": 1, "b": [1, 2]})"},
              {"py:str", "'locked'", "locked"}});
  // A C++ service reading with the wrong type, as during a rolling deploy.
  EXPECT_EQ(cache.get<int>("py:dict"), std::nullopt);
  EXPECT_EQ(cache.get<app::Flight>("py:dict"), std::nullopt);
  EXPECT_EQ(cache.get<bool>("py:str"), std::nullopt);
  EXPECT_EQ(cache.get<double>("py:str"), std::nullopt);
  EXPECT_EQ(cache.stats().errors.count(ErrorCategory::Serialization), 4u);
  expect_nothing_deleted();
  // The Python service still reads its values.
  EXPECT_EQ(python_reads({*raw.get("py:dict"), *raw.get("py:str")}),
            (std::vector<std::string>{"dict {'a': 1, 'b': [1, 2]}", "str 'locked'"}));
}

// Points the process environment at a server for ValkeyConfig::from_env().
void use_server_from_env(const ServerProcess& server) {
  ::unsetenv("VALKEY_URL");
  ::unsetenv("VALKEY_ENV_FILE");
  ::unsetenv("VALKEY_CLUSTER");
  ::setenv("VALKEY_HOST", server.host().c_str(), 1);
  ::setenv("VALKEY_PORT", std::to_string(server.port()).c_str(), 1);
}

TEST(GlobalCacheManager, CloseReleasesItAndTheNextGetBuildsANewOneFromTheEnvironment) {
  ServerProcess first;
  ServerProcess second;
  use_server_from_env(first);
  ASSERT_TRUE(get_cache_manager().set("who", "first", 60s));
  EXPECT_EQ(get_cache_manager().get("who"), "first");
  close_global_cache_manager();

  use_server_from_env(second);
  EXPECT_EQ(get_cache_manager().get("who"), std::nullopt) << "still the first server's manager";
  ASSERT_TRUE(get_cache_manager().set("who", "second", 60s));
  close_global_cache_manager();
  close_global_cache_manager();  // nothing left to close: a no-op

  EXPECT_EQ(first.client().get("who"), "first");
  EXPECT_EQ(second.client().get("who"), "second");
  ::unsetenv("VALKEY_HOST");
  ::unsetenv("VALKEY_PORT");
}

}  // namespace
}  // namespace airport::cache

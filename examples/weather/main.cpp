// SPDX-License-Identifier: BSD-3-Clause
// The weather scenario on its own: see examples/scenarios/weather.cpp and docs/scenarios.md.
#include "common/scenario.hpp"

int main(int argc, char** argv) {
  return airport::examples::run_standalone(argc, argv, "weather", airport::examples::run_weather);
}

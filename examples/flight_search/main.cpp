// SPDX-License-Identifier: BSD-3-Clause
// The flight_search scenario on its own: see examples/scenarios/flight_search.cpp and
// docs/scenarios.md.
#include "common/scenario.hpp"

int main(int argc, char** argv) {
  return airport::examples::run_standalone(argc, argv, "flight_search",
                                           airport::examples::run_flight_search);
}

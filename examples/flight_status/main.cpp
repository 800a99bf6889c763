// SPDX-License-Identifier: BSD-3-Clause
// The flight_status scenario on its own: see examples/scenarios/flight_status.cpp and
// docs/scenarios.md.
#include "common/scenario.hpp"

int main(int argc, char** argv) {
  return airport::examples::run_standalone(argc, argv, "flight_status",
                                           airport::examples::run_flight_status);
}

// SPDX-License-Identifier: BSD-3-Clause
// The monitoring scenario on its own: see examples/scenarios/monitoring.cpp and docs/scenarios.md.
#include "common/scenario.hpp"

int main(int argc, char** argv) {
  return airport::examples::run_standalone(argc, argv, "monitoring",
                                           airport::examples::run_monitoring);
}

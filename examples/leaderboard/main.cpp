// SPDX-License-Identifier: BSD-3-Clause
// The leaderboard scenario on its own: see examples/scenarios/leaderboard.cpp and
// docs/scenarios.md.
#include "common/scenario.hpp"

int main(int argc, char** argv) {
  return airport::examples::run_standalone(argc, argv, "leaderboard",
                                           airport::examples::run_leaderboard);
}

// SPDX-License-Identifier: BSD-3-Clause
// The russian_doll scenario on its own: see examples/scenarios/russian_doll.cpp and
// docs/scenarios.md.
#include "common/scenario.hpp"

int main(int argc, char** argv) {
  return airport::examples::run_standalone(argc, argv, "russian_doll",
                                           airport::examples::run_russian_doll);
}

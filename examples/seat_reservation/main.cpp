// SPDX-License-Identifier: BSD-3-Clause
// The seat_reservation scenario on its own: see examples/scenarios/seat_reservation.cpp and
// docs/scenarios.md.
#include "common/scenario.hpp"

int main(int argc, char** argv) {
  return airport::examples::run_standalone(argc, argv, "seat_reservation",
                                           airport::examples::run_seat_reservation);
}

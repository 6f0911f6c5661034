// The DPDK Environment Abstraction Layer, started at most once per process from configured
// arguments. Every DPDK transport needs it; nothing else in the project touches it.
#pragma once

#include <span>
#include <string>

namespace hb::transport::eal {

// Starts the EAL with `args` (without a program name) the first time; later calls return the
// first call's outcome, because DPDK cannot be initialised twice in a process (not even after a
// failure). Empty string on success, else a message naming the failing step.
[[nodiscard]] std::string start(std::span<const std::string> args);

bool running() noexcept;

// The EAL's runtime directory (/var/run/dpdk/<file prefix> for root) while it runs, else empty.
// rte_eal_cleanup leaves its files there: a process that owns its prefix may remove it after
// stop() (the tests do; hbd, sharing nothing, could too).
std::string runtime_directory();

// Releases the EAL's memory (rte_eal_cleanup) once every port and mempool is gone; for mains and
// test binaries at exit. start() fails afterwards.
void stop() noexcept;

}  // namespace hb::transport::eal

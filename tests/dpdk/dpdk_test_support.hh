// What the dpdk suite's binaries share: one EAL per binary started in main() (no hugepages, a
// file prefix of its own, no PCI scan), a skip with the reason when it cannot start, and ports
// made from rte_rings (the net_ring driver) so frames can be wired, injected and inspected.
#pragma once

#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "transport/dpdk/eal.hh"

namespace hb::test {

// Why the EAL did not start, empty when it runs; set by dpdk_main().
inline std::string& eal_error() {
    static std::string error;
    return error;
}

#define HB_REQUIRE_EAL()                                                                   \
    do {                                                                                   \
        if (!::hb::test::eal_error().empty()) {                                            \
            GTEST_SKIP() << "the DPDK EAL cannot start here: " << ::hb::test::eal_error(); \
        }                                                                                  \
    } while (false)

// main() of a dpdk test binary: `name` makes the file prefix unique with the process id.
inline int dpdk_main(int argc, char** argv, const std::string& name) {
    ::testing::InitGoogleTest(&argc, argv);
    if (geteuid() != 0) {
        eal_error() = "not root (the EAL needs it even with --no-huge)";
    } else {
        const std::vector<std::string> args{
            "--no-huge",
            "-m",
            "128",
            "--no-pci",
            "--no-telemetry",
            "--log-level=lib.eal:error",
            "--file-prefix=hb_" + name + "_" + std::to_string(getpid())};
        eal_error() = transport::eal::start(args);
    }
    const int result = RUN_ALL_TESTS();
    const std::string runtime_directory = transport::eal::runtime_directory();
    transport::eal::stop();
    if (!runtime_directory.empty()) {
        std::error_code ignored;  // this binary's own prefix: nothing else uses the directory
        std::filesystem::remove_all(runtime_directory, ignored);
    }
    return result;
}

// A ring of mbuf pointers, single producer and single consumer (each port end is one thread).
inline rte_ring* make_ring(const std::string& name, unsigned size = 1024) {
    rte_ring* ring = rte_ring_lookup(name.c_str());
    if (ring == nullptr) {
        ring = rte_ring_create(name.c_str(), size, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    }
    return ring;
}

// A net_ring port (named "net_ring_" + name) that receives from `rx` and sends into `tx`; -1 on
// failure. Closing it (the transport does) releases the port; the vdev itself is removed with
// remove_ring_port so the name can be used again.
inline int make_ring_port(const std::string& name, rte_ring* rx, rte_ring* tx) {
    return rte_eth_from_rings(name.c_str(), &rx, 1, &tx, 1, SOCKET_ID_ANY);
}

inline void remove_ring_port(const std::string& name) {
    rte_eal_hotplug_remove("vdev", ("net_ring_" + name).c_str());
}

// Frees every mbuf left in `ring`.
inline void drain_ring(rte_ring* ring) {
    void* object = nullptr;
    while (rte_ring_dequeue(ring, &object) == 0) {
        rte_pktmbuf_free(static_cast<rte_mbuf*>(object));
    }
}

}  // namespace hb::test

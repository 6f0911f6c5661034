// What the dpdk suite's binaries share: one EAL per binary started in main() (no hugepages, a
// file prefix of its own, no PCI scan), a skip with the reason when it cannot start, and ports
// made from rte_rings (the net_ring driver) so frames can be wired, injected and inspected.
#pragma once

#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
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

// Two net_ring ports wired back to back (a cable): port A sends into a_to_b, which port B
// receives from, and the reverse. The rings stay reachable so tests can inject and drain frames.
struct RingCable {
    rte_ring* a_to_b = nullptr;
    rte_ring* b_to_a = nullptr;
    std::string name_a;  // the ports are "net_ring_" + name
    std::string name_b;

    // Makes the rings and ports; `tag` keeps their names apart from other cables'.
    void make(const std::string& tag) {
        a_to_b = make_ring(tag + "ab");
        b_to_a = make_ring(tag + "ba");
        ASSERT_NE(a_to_b, nullptr);
        ASSERT_NE(b_to_a, nullptr);
        name_a = tag + "a";
        name_b = tag + "b";
        ASSERT_GE(make_ring_port(name_a, b_to_a, a_to_b), 0);
        ASSERT_GE(make_ring_port(name_b, a_to_b, b_to_a), 0);
    }
    // Frames in flight belong to the sender's pool: drain before closing any transport.
    void drain() {
        if (a_to_b != nullptr) {
            drain_ring(a_to_b);
        }
        if (b_to_a != nullptr) {
            drain_ring(b_to_a);
        }
    }
    // After the transports on both ports are closed.
    void destroy() {
        remove_ring_port(name_a);
        remove_ring_port(name_b);
        rte_ring_free(a_to_b);
        rte_ring_free(b_to_a);
        a_to_b = b_to_a = nullptr;
    }
};

// Proves that cycles of opening and closing leave the EAL heap (socket 0) as they found it: the
// first cycle may allocate what lasts (a driver's tables), the second sets the baseline, and
// every later one must end at exactly that size.
class HeapGrowthCheck {
public:
    void after_cycle(int cycle) {
        rte_malloc_socket_stats stats{};
        ASSERT_EQ(rte_malloc_get_socket_stats(0, &stats), 0);
        if (cycle == 1) {
            baseline_ = stats.heap_allocsz_bytes;
        } else if (cycle > 1) {
            EXPECT_EQ(stats.heap_allocsz_bytes, baseline_) << "cycle " << cycle;
        }
    }

private:
    std::size_t baseline_ = 0;
};

// Open/close cycles on one port whose TX ring is its own RX ring (every frame comes back): each
// cycle makes the port, runs `cycle_body` with its name ("net_ring_..."), which opens and closes
// a transport on it, then checks that the ring is empty (the transport took back what was in
// flight) and that the EAL heap did not grow.
inline void loop_port_cycles(const std::string& tag, int cycles,
                             const std::function<void(const std::string& port)>& cycle_body) {
    rte_ring* loop = make_ring(tag + "_loop");
    ASSERT_NE(loop, nullptr);
    HeapGrowthCheck heap;
    for (int cycle = 0; cycle < cycles; ++cycle) {
        const std::string name = tag + std::to_string(cycle);
        ASSERT_GE(make_ring_port(name, loop, loop), 0);
        cycle_body("net_ring_" + name);
        EXPECT_EQ(rte_ring_count(loop), 0U) << "cycle " << cycle;
        remove_ring_port(name);
        heap.after_cycle(cycle);
        if (::testing::Test::HasFatalFailure()) {
            break;
        }
    }
    rte_ring_free(loop);
}

}  // namespace hb::test

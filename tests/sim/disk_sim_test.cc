// The simulation suite with a shared disk: seeded fault schedules through the real engines,
// detectors and disk heartbeats (over an in-memory disk) on one manual clock. With the disk, a
// node cut off every network is a PARTITION on every side and never a death, a dead node is
// NODE_UNREACHABLE then NODE_DOWN, and a node losing its disk path says DISK_DOWN and nothing
// else changes. A failure prints its seed; HB_SIM_DISK_SEED=N replays it (HB_SIM_DISK_SEEDS sets
// how many run).
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <sstream>
#include <string>

#include "tests/sim/sim_support.hh"
#include "tests/support/fake_disk.hh"
#include "tests/support/test_cluster.hh"

namespace hb {
namespace {

using sim::Expected;
using sim::fast;
using sim::step_ns;
using test::TestCluster;

enum class Fault { partition, crash, hang, leave, restart, disk_lost, network_down };
constexpr const char* fault_names[] = {"partition", "crash",     "hang",        "leave",
                                       "restart",   "disk_lost", "network_down"};

struct Scenario : sim::Schedule<Fault> {
    Nanos disk_latency_ns = 0;

    std::string fault_name() const { return fault_names[static_cast<int>(fault)]; }
    std::string describe() const {
        return Schedule::describe(
            fault_names, "disk latency " + std::to_string(disk_latency_ns / 1000) + " us, ");
    }
};

Scenario draw(std::uint64_t seed) {
    std::mt19937_64 random(seed);
    Scenario s;
    s.seed = seed;
    s.nodes = 2 + static_cast<std::uint32_t>(random() % 3);
    s.networks = 1 + static_cast<std::uint32_t>(random() % 2);
    s.mode = random() % 2 == 0 ? NetworkMode::unicast : NetworkMode::multicast;
    s.jitter_ns = static_cast<Nanos>(random() % 2001) * nanos_per_us;
    s.disk_latency_ns = static_cast<Nanos>(50 + random() % 2951) * nanos_per_us;
    const std::uint32_t kinds = s.networks == 2 ? 7 : 6;  // a network fault needs a second one
    s.fault = static_cast<Fault>(random() % kinds);
    s.victim = 1 + static_cast<NodeId>(random() % s.nodes);
    s.network = static_cast<NetworkIndex>(random() % s.networks);
    return s;
}

// Every path of `victim`, both ways, on every network.
void cut_off(TestCluster& cluster, const Scenario& s, bool cut) {
    for (NetworkIndex n = 0; n < s.networks; ++n) {
        for (NodeId other = 1; other <= s.nodes; ++other) {
            if (other == s.victim) {
                continue;
            }
            const Ipv4 a = test::address_of(s.victim, n);
            const Ipv4 b = test::address_of(other, n);
            if (cut) {
                cluster.network(n).cut_both(a, b);
            } else {
                cluster.network(n).restore(a, b);
                cluster.network(n).restore(b, a);
            }
        }
    }
}

std::string run(const Scenario& s) {
    TestCluster cluster(s.nodes, s.networks, s.mode, fast, std::nullopt, s.seed);
    test::SharedDisk disk(cluster, s.nodes, fast.interval_ns, fast.multiplier, s.disk_latency_ns);
    for (NetworkIndex n = 0; n < s.networks; ++n) {
        cluster.network(n).jitter_ns = s.jitter_ns;
        cluster.network(n).random.seed(s.seed * 31 + n);
    }
    cluster.run_for(300 * nanos_per_ms, step_ns);
    std::ostringstream problems;
    for (NodeId id = 1; id <= s.nodes; ++id) {
        if (cluster.events_of(id, EventKind::disk_up, 0).size() != 1) {
            problems << "node " << id << " never reported DISK_UP; ";
        }
        for (NodeId peer = 1; peer <= s.nodes; ++peer) {
            if (peer != id && cluster.events_of(id, EventKind::node_up, peer).size() != 1) {
                problems << "node " << id << " never saw node " << peer << " up; ";
            }
        }
        cluster.events(id).clear();
    }
    const Nanos fault_at = cluster.now();
    Nanos repair_at = fault_at;
    switch (s.fault) {
        case Fault::partition:
            cut_off(cluster, s, true);
            cluster.run_for(300 * nanos_per_ms, step_ns);
            repair_at = cluster.now();
            cut_off(cluster, s, false);
            break;
        case Fault::crash:
            cluster.crash(s.victim);
            break;
        case Fault::hang:
            cluster.crash(s.victim);
            cluster.run_for(200 * nanos_per_ms, step_ns);
            repair_at = cluster.now();
            cluster.resume(s.victim);
            break;
        case Fault::leave:
            cluster.engine(s.victim).leave(cluster.now());
            cluster.crash(s.victim);
            break;
        case Fault::restart:
            cluster.start(s.victim, cluster.engine(s.victim).incarnation() + 1);
            break;
        case Fault::disk_lost:
            disk.set_failing(s.victim, true);
            break;
        case Fault::network_down:
            cluster.set_network(s.network, false);
            break;
    }
    cluster.run_for(400 * nanos_per_ms, step_ns);

    const auto n = static_cast<std::int32_t>(s.network);
    for (NodeId id = 1; id <= s.nodes; ++id) {
        std::vector<Expected> expected;
        const bool victim = id == s.victim;
        switch (s.fault) {
            case Fault::partition:
                // Each side sees the other alive on the disk: a partition, and its healing.
                for (NodeId peer = 1; peer <= s.nodes; ++peer) {
                    if (peer != id && (victim || peer == s.victim)) {
                        expected.push_back({EventKind::node_unreachable, peer, no_network});
                        expected.push_back({EventKind::partition, peer, no_network});
                        expected.push_back({EventKind::partition_healed, peer, no_network});
                    }
                }
                break;
            case Fault::crash:
                if (!victim) {
                    expected = {{EventKind::node_unreachable, s.victim, no_network},
                                {EventKind::node_down, s.victim, no_network}};
                }
                break;
            case Fault::hang:
                if (!victim) {
                    expected = {{EventKind::node_unreachable, s.victim, no_network},
                                {EventKind::node_down, s.victim, no_network},
                                {EventKind::node_up, s.victim, no_network}};
                }
                break;
            case Fault::leave:
                if (!victim) {
                    expected = {{EventKind::node_left, s.victim, no_network}};
                }
                break;
            case Fault::restart:
                if (!victim) {
                    expected = {{EventKind::node_restarted, s.victim, no_network}};
                } else {
                    expected.push_back({EventKind::disk_up, 0, no_network});
                    for (NodeId peer = 1; peer <= s.nodes; ++peer) {
                        if (peer != id) {
                            expected.push_back({EventKind::node_up, peer, no_network});
                        }
                    }
                }
                break;
            case Fault::disk_lost:
                if (victim) {
                    expected = {{EventKind::disk_down, 0, no_network}};
                }
                break;
            case Fault::network_down:
                expected = {{EventKind::network_down, 0, n}};
                break;
        }
        const std::vector<Event>& got = cluster.events(id);
        std::string mismatch = sim::compare_events(id, got, expected);
        if (!mismatch.empty()) {
            problems << mismatch;
            continue;
        }
        // Each verdict within 3x nominal (plus jitter, the disk's latency and a step) of what
        // it answers: the fault, or the repair for the recoveries.
        for (const Event& e : got) {
            const bool recovery = e.kind == EventKind::partition_healed ||
                                  (s.fault == Fault::hang && e.kind == EventKind::node_up);
            const Nanos since = e.t_ns - (recovery ? repair_at : fault_at);
            const Nanos bound =
                3 * fast.interval_ns * fast.multiplier + s.jitter_ns + s.disk_latency_ns + step_ns;
            if (since < 0 || since > bound) {
                problems << "node " << id << " " << event_name(e.kind) << "(" << e.node << ") "
                         << since / 1000 << " us after the " << (recovery ? "repair" : "fault")
                         << " (bound " << bound / 1000 << " us); ";
            }
        }
        // Order where the story has one.
        for (std::size_t i = 0; i + 1 < got.size(); ++i) {
            for (std::size_t j = i + 1; j < got.size(); ++j) {
                if (got[i].node == got[j].node && got[j].kind == EventKind::node_unreachable) {
                    problems << "node " << id << " " << event_name(got[i].kind) << "("
                             << got[i].node << ") before its NODE_UNREACHABLE; ";
                }
            }
        }
    }
    return problems.str();
}

TEST(DiskSimulation, SeededFaultSchedulesWithADiskTellAPartitionFromADeath) {
    EXPECT_EQ(sim::run_seeds("HB_SIM_DISK", 500, draw, run), 0U);
}

}  // namespace
}  // namespace hb

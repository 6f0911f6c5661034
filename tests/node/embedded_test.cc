// Tests of the C++ embedding API (hb/node.hh) through the installed library, as an embedder links
// it: configuration errors with their lines, and two nodes on loopback (one polled, one run)
// whose statistics another thread reads throughout, checking they never go back and are never
// torn. Real time: only verdicts and invariants are asserted, never how fast.
#include "hb/node.hh"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "tests/node/loopback_config.hh"
#include "tests/support/isolated.hh"

namespace hb {
namespace {

TEST(EmbeddedNode, CreateFromStringReportsEveryErrorWithItsLine) {
    std::string text = test::loopback_config(1, 77);
    text.replace(text.find("multiplier = 5"), 14, "multiplier = \"five\"");
    text.replace(text.find("node = 1\n[process]"), 8, "node = 9");
    auto created = Node::from_string(text, "/nonexistent");
    ASSERT_TRUE(std::holds_alternative<std::string>(created));
    const std::string& error = std::get<std::string>(created);
    // Line 5 is multiplier, line 7 the local node; each error on its own line, named "<config>".
    EXPECT_NE(error.find("<config>:6:"), std::string::npos) << error;
    EXPECT_NE(error.find("multiplier"), std::string::npos) << error;
    EXPECT_NE(error.find("<config>:8:"), std::string::npos) << error;
    EXPECT_NE(error.find('\n'), std::string::npos) << error;
    EXPECT_NE(error.back(), '\n');
}

TEST(EmbeddedNode, CreateFromFileNamesAMissingFile) {
    auto created = Node::from_file("/nonexistent/hb-embedded-test.toml");
    ASSERT_TRUE(std::holds_alternative<std::string>(created));
    EXPECT_NE(std::get<std::string>(created).find("/nonexistent/hb-embedded-test.toml"),
              std::string::npos);
}

TEST(EmbeddedNode, CreateReportsAnAdapterThatCannotBeOpened) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "binding a socket to a device (SO_BINDTODEVICE) needs root";
    }
    std::string text = test::loopback_config(1, 77);
    text.replace(text.find("ifname = \"lo\""), 13, "ifname = \"hb-no-such0\"");
    auto created = Node::from_string(text, ".");
    ASSERT_TRUE(std::holds_alternative<std::string>(created));
    EXPECT_NE(std::get<std::string>(created).find("net_lo"), std::string::npos)
        << std::get<std::string>(created);
}

// Checks one snapshot against the previous: nothing goes back, and the engine's total equals the
// sum over its paths (unicast, no pings: every beat built is sent or failed). Both come from one
// publication, so a torn read, mixing two, would break the sum while beats flow.
std::string check_snapshot(const NodeStats& now, const NodeStats& before) {
    if (now.publication < before.publication || now.published_ns < before.published_ns) {
        return "publication went back";
    }
    if (now.engine.beats_sent < before.engine.beats_sent ||
        now.engine.beats_accepted < before.engine.beats_accepted) {
        return "engine counters went back";
    }
    std::uint64_t path_sum = 0;
    for (std::size_t p = 0; p < now.paths.size(); ++p) {
        const PathStats& path = now.paths[p];
        if (path.beats_sent < before.paths[p].beats_sent ||
            path.beats_received < before.paths[p].beats_received ||
            path.last_heard_ns < before.paths[p].last_heard_ns) {
            return "path counters went back";
        }
        if (path.state != PathStats::State::down && path.state != PathStats::State::init &&
            path.state != PathStats::State::up) {
            return "path state out of range";
        }
        path_sum += path.beats_sent;
    }
    if (now.engine.beats_sent + now.engine.send_failures != path_sum) {
        return "torn: engine sent " + std::to_string(now.engine.beats_sent) + " + failed " +
               std::to_string(now.engine.send_failures) + " != paths' " + std::to_string(path_sum);
    }
    return {};
}

std::string stats_scenario() {
    REQUIRE(test::sh("ip link set lo up"));
    auto created_alpha = Node::from_string(test::loopback_config(1, 77), ".");
    REQUIRE_MSG(std::holds_alternative<std::unique_ptr<Node>>(created_alpha),
                std::get<std::string>(created_alpha));
    // beta from a config object adjusted in code: the threaded runner for its run().
    node::ConfigResult beta_config = node::parse_config(test::loopback_config(2, 77), ".");
    REQUIRE(beta_config.errors.empty() && beta_config.settings.has_value());
    beta_config.settings->process.threads = node::ProcessSettings::Threads::threaded;
    auto created_beta = Node::create(std::move(*beta_config.settings));
    REQUIRE_MSG(std::holds_alternative<std::unique_ptr<Node>>(created_beta),
                std::get<std::string>(created_beta));
    Node& alpha = *std::get<std::unique_ptr<Node>>(created_alpha);
    Node& beta = *std::get<std::unique_ptr<Node>>(created_beta);
    REQUIRE(!alpha.warnings().empty());  // no key_file
    REQUIRE(alpha.path_count() == 1);
    REQUIRE(alpha.node_name(2) == "beta");
    REQUIRE(alpha.network_name(0) == "net_lo");
    REQUIRE(alpha.adapter_name(0, 0) == "lo");

    // Before start, a read gives the empty snapshot, shaped for the paths.
    NodeStats first;
    REQUIRE(alpha.read_stats(first));
    REQUIRE(first.publication == 0 && first.paths.size() == 1);

    REQUIRE(beta.start().empty());
    REQUIRE(beta.warnings().empty());  // create() from settings: no config text, no warnings
    std::thread beta_thread([&] { beta.run(); });  // threaded runner; events left queued

    // The reader: as fast as it can, all the while both engines run.
    std::atomic<bool> reading{true};
    std::atomic<std::uint64_t> reads{0};
    std::string reader_problem;
    NodeStats last;
    std::thread reader([&] {
        NodeStats before;
        before.paths.resize(alpha.path_count());
        NodeStats now;
        while (reading.load(std::memory_order_relaxed)) {
            if (!alpha.read_stats(now)) {
                continue;
            }
            if (std::string problem = check_snapshot(now, before); !problem.empty()) {
                reader_problem = problem;
                return;
            }
            std::swap(before, now);
            reads.fetch_add(1, std::memory_order_relaxed);
        }
        last = before;
    });

    // alpha in single-thread mode: this thread is its engine thread.
    REQUIRE(alpha.start().empty());
    bool up = false;
    bool left = false;
    std::vector<std::string> seen;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!left && std::chrono::steady_clock::now() < until) {
        alpha.poll(50 * nanos_per_ms);
        for (Event event; alpha.next_event(event);) {
            seen.push_back(alpha.event_json(event));
            if (event.kind == EventKind::node_up && event.node == 2 && !up) {
                up = true;
                // Let beats flow a while, then stop beta gracefully: alpha must say NODE_LEFT.
                const auto settle =
                    std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
                while (std::chrono::steady_clock::now() < settle) {
                    alpha.poll(10 * nanos_per_ms);
                }
                beta.request_stop();
                beta_thread.join();
                beta.stop();
            }
            left = left || (event.kind == EventKind::node_left && event.node == 2);
        }
    }
    if (beta_thread.joinable()) {
        beta.request_stop();
        beta_thread.join();
    }
    alpha.stop();
    reading.store(false);
    reader.join();

    std::string events;
    for (const std::string& line : seen) {
        events += line + "\n";
    }
    REQUIRE_MSG(up, "no NODE_UP for beta; events:\n" + events);
    REQUIRE_MSG(left, "no NODE_LEFT for beta after its graceful stop; events:\n" + events);
    REQUIRE_MSG(reader_problem.empty(), reader_problem);
    REQUIRE_MSG(reads.load() > 10, std::to_string(reads.load()) + " reads");

    // After stop() the final publication: what alpha heard, in one consistent copy.
    NodeStats final_stats;
    REQUIRE(alpha.read_stats(final_stats));
    REQUIRE(check_snapshot(final_stats, last).empty());
    REQUIRE(final_stats.publication > 2);
    REQUIRE(final_stats.engine.beats_accepted > 0);
    REQUIRE(final_stats.engine.events_emitted >= 2);
    const PathStats& path = final_stats.paths[0];
    REQUIRE(path.peer == 2 && path.network == 0 && path.local_adapter == 0 &&
            path.peer_adapter == 0);
    REQUIRE(path.beats_sent > 0 && path.beats_received > 0);
    REQUIRE(path.rtt_smoothed_ns > 0 && path.rtt_min_ns <= path.rtt_max_ns);
    REQUIRE(path.last_heard_ns > 0);
    return {};
}

TEST(EmbeddedNode, StatsAreReadFromAnotherThreadWhileTwoNodesRun) {
    HB_RUN_ISOLATED(stats_scenario, 60);
}

}  // namespace
}  // namespace hb

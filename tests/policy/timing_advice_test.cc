// Timing advice (DESIGN §6): the loss arithmetic with exact values, and the advisor over the
// in-memory cluster with seeded random loss: it warns once, names the path and a safer multiplier,
// stays quiet without loss, and does not mistake an outage for loss.
#include "policy/timing_advice.hh"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "tests/support/test_cluster.hh"

// Counts every allocation in the process so a test can prove that poll() allocates nothing.
#include "tests/support/allocation_counter.hh"

using hb::test::allocations;

namespace hb::policy {
namespace {

using test::address_of;
using test::TestCluster;

constexpr Nanos ms = nanos_per_ms;
constexpr Timing fast{.interval_ns = 10 * ms, .multiplier = 3, .up_count = 2};
constexpr Timing safe{.interval_ns = 100 * ms, .multiplier = 5, .up_count = 2};

TEST(TimingArithmetic, KnownValues) {
    // (1 - 0.05) * 0.05^3
    EXPECT_NEAR(false_expiries_per_interval(0.05, 3), 1.1875e-4, 1e-15);
    // 8.64e6 intervals of 10 ms a day
    EXPECT_NEAR(false_expiries_per_day(0.05, 3, 10 * ms), 1026.0, 1e-9);
    EXPECT_NEAR(false_expiries_per_day(0.05, 6, 10 * ms), 0.12825, 1e-12);
    EXPECT_NEAR(false_expiries_per_day(0.01, 3, 10 * ms), 8.5536, 1e-9);
}

TEST(TimingArithmetic, MultiplierForKnownLosses) {
    // k = 5 still gives 2.565 a day at 5 % and 10 ms; k = 6 gives 0.128.
    EXPECT_EQ(multiplier_for(0.05, 10 * ms), 6U);
    EXPECT_EQ(multiplier_for(0.01, 10 * ms), 4U);
    EXPECT_EQ(multiplier_for(0.05, 100 * ms), 5U);
    EXPECT_EQ(multiplier_for(0.05, 1 * ms), 7U);
    EXPECT_EQ(multiplier_for(0.20, 10 * ms), 10U);
    EXPECT_EQ(multiplier_for(0.50, 10 * ms), 23U);
    // A looser target needs less: 51.3 a day at k = 4, 2.565 at k = 5.
    EXPECT_EQ(multiplier_for(0.05, 10 * ms, 10.0), 5U);
}

TEST(TimingArithmetic, EdgeCases) {
    EXPECT_EQ(false_expiries_per_interval(0.0, 1), 0.0);
    EXPECT_EQ(multiplier_for(0.0, 10 * ms), 1U);
    // Total loss: no beat ever arrives, so no expiry is false and no multiplier helps or hurts.
    EXPECT_EQ(false_expiries_per_interval(1.0, 3), 0.0);
    EXPECT_EQ(multiplier_for(1.0, 10 * ms), 1U);
    // Near-total loss: nothing under 255 is enough, and the ceiling is what is advised.
    EXPECT_GE(false_expiries_per_day(0.99, 254, 10 * ms), 1.0);
    EXPECT_EQ(multiplier_for(0.99, 10 * ms), 255U);
    EXPECT_EQ(multiplier_for(0.05, 10 * ms, 1.0, 4), 4U);
    EXPECT_EQ(multiplier_for(0.05, 10 * ms, 1.0, 1), 1U);
    // The rate falls with every step of k.
    for (std::uint32_t k = 1; k < 40; ++k) {
        EXPECT_LT(false_expiries_per_interval(0.3, k + 1), false_expiries_per_interval(0.3, k));
    }
}

TEST(TimingArithmeticDeathTest, RejectsImpossibleInputs) {
    EXPECT_DEATH(static_cast<void>(false_expiries_per_interval(1.5, 3)), "loss");
    EXPECT_DEATH(static_cast<void>(false_expiries_per_interval(0.05, 0)), "multiplier");
    EXPECT_DEATH(static_cast<void>(false_expiries_per_day(0.05, 3, 0)), "interval_ns");
}

TEST(TimingArithmetic, AdviseFromCounters) {
    const PathAdvice lossy = advise(4, 950, 50, fast);
    EXPECT_EQ(lossy.path, 4U);
    EXPECT_EQ(lossy.samples, 1000U);
    EXPECT_DOUBLE_EQ(lossy.loss, 0.05);
    EXPECT_NEAR(lossy.false_per_day, 1026.0, 1e-9);
    EXPECT_EQ(lossy.multiplier, 3U);
    EXPECT_EQ(lossy.advised_multiplier, 6U);
    EXPECT_TRUE(lossy.too_tight);

    const PathAdvice clean = advise(0, 1000, 0, fast);
    EXPECT_EQ(clean.loss, 0.0);
    EXPECT_EQ(clean.false_per_day, 0.0);
    EXPECT_EQ(clean.advised_multiplier, 1U);
    EXPECT_FALSE(clean.too_tight);

    // 1 % at 10 ms x 6 is 8.6e-5 a day: fine, and k = 4 would do.
    const Timing wide{.interval_ns = 10 * ms, .multiplier = 6, .up_count = 2};
    const PathAdvice fine = advise(1, 990, 10, wide);
    EXPECT_FALSE(fine.too_tight);
    EXPECT_EQ(fine.advised_multiplier, 4U);
}

struct Report {
    PathAdvice advice;
    std::string message;
};

// Node 1 of a 3-node, 2-network cluster with an advisor; beats from node 2 to node 1 on net_0
// can be lost at random, one beat (one interval of cut link) at a time.
class AdvisorOverCluster : public ::testing::Test {
protected:
    explicit AdvisorOverCluster(Timing timing = fast, TimingAdvisorOptions options = {})
        : cluster_(3, 2, NetworkMode::unicast, timing),
          advisor_(
              cluster_.engine(1),
              [this](const PathAdvice& advice, std::string_view message) {
                  reports_.push_back(Report{advice, std::string(message)});
              },
              options),
          interval_ns_(timing.interval_ns) {
        lossy_path_ = cluster_.engine(1).topology().find_path(0, 2, 0);
        HB_ASSERT(lossy_path_ != Topology::none);
        cluster_.run_for(200 * ms);
    }

    // Runs `duration_ns`, cutting node 2 -> node 1 on net_0 for each interval with probability
    // `loss` (seeded; 0 leaves the links as they are), and polls the advisor every millisecond,
    // counting its allocations.
    void run(Nanos duration_ns, double loss) {
        const Ipv4 from = address_of(2, 0);
        const Ipv4 to = address_of(1, 0);
        const Nanos until = cluster_.now() + duration_ns;
        while (cluster_.now() < until) {
            if (loss > 0.0 && static_cast<double>(random_() % 1'000'000) < loss * 1e6) {
                cluster_.network(0).cut(from, to);
            } else if (loss > 0.0) {
                cluster_.network(0).restore(from, to);
            }
            const Nanos interval_end = cluster_.now() + interval_ns_;
            while (cluster_.now() < interval_end) {
                cluster_.run_for(ms, 100 * nanos_per_us);
                const std::size_t reports_before = reports_.size();
                const std::uint64_t before = allocations.load(std::memory_order_relaxed);
                advisor_.poll(cluster_.now());
                if (reports_.size() == reports_before) {
                    poll_allocations_ += allocations.load(std::memory_order_relaxed) - before;
                }
            }
        }
        if (loss > 0.0) {
            cluster_.network(0).restore(from, to);
        }
    }

    std::size_t reports_about(PathIndex path) const {
        std::size_t count = 0;
        for (const Report& report : reports_) {
            count += report.advice.path == path ? 1 : 0;
        }
        return count;
    }

    static constexpr std::uint64_t seed = 20261122;
    TestCluster cluster_;
    std::vector<Report> reports_;
    TimingAdvisor advisor_;
    Nanos interval_ns_;
    PathIndex lossy_path_ = 0;
    std::mt19937_64 random_{seed};
    std::uint64_t poll_allocations_ = 0;
};

TEST_F(AdvisorOverCluster, NoWarningWithoutLoss) {
    run(30 * nanos_per_s, 0.0);
    EXPECT_EQ(reports_.size(), 0U);
    EXPECT_EQ(advisor_.warnings(), 0U);
    EXPECT_GE(advisor_.evaluations(), 2U);
    ASSERT_EQ(advisor_.advice().size(), 4U) << "2 peers x 2 networks";
    for (const PathAdvice& advice : advisor_.advice()) {
        EXPECT_GE(advice.samples, min_loss_samples) << advice.path;
        RecordProperty("samples_" + std::to_string(advice.path), std::to_string(advice.samples));
        EXPECT_EQ(advice.loss, 0.0) << advice.path;
        EXPECT_FALSE(advice.too_tight) << advice.path;
        EXPECT_EQ(advice.multiplier, 3U);
    }
    EXPECT_EQ(poll_allocations_, 0U) << "poll() allocated";
}

TEST_F(AdvisorOverCluster, FivePercentLossWarnsOnceNamingPathAndMultiplier) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    run(30 * nanos_per_s, 0.05);
    ASSERT_EQ(reports_.size(), 1U) << "once, however many periods stay too tight";
    const Report& report = reports_.front();
    RecordProperty("message", report.message);
    EXPECT_EQ(report.advice.path, lossy_path_);
    EXPECT_TRUE(report.advice.too_tight);
    EXPECT_GT(report.advice.loss, 0.03);
    EXPECT_LT(report.advice.loss, 0.07);
    EXPECT_EQ(report.advice.multiplier, 3U);
    EXPECT_GT(report.advice.advised_multiplier, 3U);
    EXPECT_GE(report.advice.advised_multiplier, 5U);
    EXPECT_LE(report.advice.advised_multiplier, 7U);
    EXPECT_GE(report.advice.false_per_day, 1.0);
    EXPECT_GE(report.advice.samples, min_loss_samples);
    EXPECT_EQ(report.message.rfind("path node1/eth0 -> node2/eth0 on net_0: measured loss ", 0), 0U)
        << report.message;
    EXPECT_NE(report.message.find("at 10 ms x 3 that is ~"), std::string::npos) << report.message;
    EXPECT_NE(
        report.message.find("; multiplier " + std::to_string(report.advice.advised_multiplier) +
                            " would keep them under one a day"),
        std::string::npos)
        << report.message;
    EXPECT_GT(advisor_.advice()[lossy_path_].loss, 0.0);
    EXPECT_EQ(poll_allocations_, 0U) << "poll() allocated while it reported nothing";

    // Clean again: the condition clears quietly, and a new bout of loss warns again.
    run(20 * nanos_per_s, 0.0);
    EXPECT_EQ(reports_.size(), 1U);
    EXPECT_FALSE(advisor_.advice()[lossy_path_].too_tight);
    EXPECT_EQ(advisor_.advice()[lossy_path_].loss, 0.0) << "old loss must not linger";
    run(20 * nanos_per_s, 0.05);
    ASSERT_EQ(reports_.size(), 2U);
    EXPECT_EQ(reports_.back().advice.path, lossy_path_);
    EXPECT_EQ(reports_about(lossy_path_), 2U) << "no other path was lossy";
}

TEST_F(AdvisorOverCluster, AnOutageIsNotLoss) {
    run(12 * nanos_per_s, 0.0);
    // Both directions of net_0 between nodes 1 and 2 dead for 3 s: the path expires and comes
    // back with a gap of 300 sequence numbers, which must not read as 300 lost beats.
    cluster_.network(0).cut_both(address_of(1, 0), address_of(2, 0));
    run(3 * nanos_per_s, 0.0);
    ASSERT_NE(cluster_.engine(1).path_state(lossy_path_), PathState::up);
    cluster_.network(0).restore(address_of(1, 0), address_of(2, 0));
    cluster_.network(0).restore(address_of(2, 0), address_of(1, 0));
    run(25 * nanos_per_s, 0.0);
    EXPECT_EQ(reports_.size(), 0U) << (reports_.empty() ? "" : reports_.front().message);
    EXPECT_GE(advisor_.advice()[lossy_path_].samples, min_loss_samples);
    EXPECT_EQ(advisor_.advice()[lossy_path_].loss, 0.0);
}

class AdvisorOverSlowCluster : public AdvisorOverCluster {
protected:
    AdvisorOverSlowCluster() : AdvisorOverCluster(safe) {}
};

TEST_F(AdvisorOverSlowCluster, WidensTheWindowUntilItHoldsEnoughBeats) {
    // 100 ms beats: one 10 s period holds about 100, too few to trust; two hold about 200.
    run(10500 * ms, 0.0);
    EXPECT_EQ(advisor_.advice()[lossy_path_].samples, 0U) << "judged on too few beats";
    run(20 * nanos_per_s, 0.0);
    const PathAdvice& advice = advisor_.advice()[lossy_path_];
    EXPECT_GE(advice.samples, min_loss_samples);
    EXPECT_GE(advice.window_ns, 20 * nanos_per_s - 200 * ms);
    EXPECT_EQ(advice.multiplier, 5U);
    EXPECT_FALSE(advice.too_tight);
    EXPECT_EQ(reports_.size(), 0U);
}

class AdvisorWithLowCeiling : public AdvisorOverCluster {
protected:
    AdvisorWithLowCeiling()
        : AdvisorOverCluster(fast,
                             TimingAdvisorOptions{.limits = {.max_per_day = 10.0, .ceiling = 4}}) {}
};

TEST_F(AdvisorWithLowCeiling, SaysWhenNoMultiplierUnderTheCeilingIsEnough) {
    // 5 % at 10 ms: 51 a day at k = 4, the ceiling, against a limit of 10.
    run(12 * nanos_per_s, 0.05);
    ASSERT_EQ(reports_.size(), 1U);
    EXPECT_EQ(reports_.front().advice.advised_multiplier, 4U);
    EXPECT_NE(
        reports_.front().message.find("; not even multiplier 4 would keep them under 10 a day"),
        std::string::npos)
        << reports_.front().message;
}

}  // namespace
}  // namespace hb::policy

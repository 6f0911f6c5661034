// Tests of the sequence lock (hb/seqlock.hh): a reader racing a writer that publishes constantly
// never sees a mix of two publications, and sees them in order.
#include "hb/seqlock.hh"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace hb {
namespace {

TEST(Seqlock, ReadsZerosBeforeTheFirstPublication) {
    SeqlockWords words(4);
    std::vector<std::uint64_t> out(4, 7);
    ASSERT_TRUE(words.read(out));
    EXPECT_EQ(out, std::vector<std::uint64_t>(4, 0));
    EXPECT_EQ(words.publications(), 0U);
}

TEST(Seqlock, ReadsTheLatestPublication) {
    SeqlockWords words(3);
    const std::vector<std::uint64_t> first = {1, 2, 3};
    const std::vector<std::uint64_t> second = {4, 5, 6};
    words.publish(first);
    words.publish(second);
    std::vector<std::uint64_t> out(3);
    ASSERT_TRUE(words.read(out));
    EXPECT_EQ(out, second);
    EXPECT_EQ(words.publications(), 2U);
}

// Every publication k fills all words with k: a torn read would hold two values. Many words make
// the writer's window wide, and the reader goes on for a second (and a thousand reads), so that a
// reader without the sequence check is caught even when the machine is busy.
TEST(Seqlock, ConcurrentReadersNeverSeeATornOrOlderPublication) {
    constexpr std::size_t word_count = 512;
    SeqlockWords words(word_count);
    std::atomic<bool> done{false};
    std::atomic<std::uint64_t> published{0};
    std::thread writer([&] {
        std::vector<std::uint64_t> values(word_count);
        for (std::uint64_t k = 1; !done.load(std::memory_order_relaxed); ++k) {
            std::fill(values.begin(), values.end(), k);
            words.publish(values);
            published.store(k, std::memory_order_relaxed);
        }
    });
    std::uint64_t newest = 0;
    std::vector<std::uint64_t> out(word_count);
    std::string problem;
    const auto start = std::chrono::steady_clock::now();
    const auto elapsed = [&] { return std::chrono::steady_clock::now() - start; };
    for (std::uint64_t reads = 0;
         problem.empty() && (reads < 1000 || elapsed() < std::chrono::seconds(1));) {
        if (!words.read(out)) {
            continue;
        }
        ++reads;
        for (std::size_t i = 1; i < word_count && problem.empty(); ++i) {
            if (out[i] != out[0]) {
                problem = "torn at word " + std::to_string(i) + ": " + std::to_string(out[i]) +
                          " after " + std::to_string(out[0]);
            }
        }
        if (out[0] < newest) {
            problem = "went back from " + std::to_string(newest) + " to " + std::to_string(out[0]);
        }
        newest = out[0];
    }
    done.store(true);
    writer.join();
    EXPECT_EQ(problem, "");
    EXPECT_GT(newest, 1U);  // the reads overlapped publications
    ASSERT_TRUE(words.read(out));
    EXPECT_EQ(out[0], published.load());
}

}  // namespace
}  // namespace hb

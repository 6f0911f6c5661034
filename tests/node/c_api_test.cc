// Tests of the C API (hb/hb.h) through the installed library: errors as codes and messages
// (never an exception), buffers cut short safely, misuse in the wrong state refused, and two
// nodes on loopback whose events and statistics arrive as C structs.
#include "hb/hb.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "tests/node/loopback_config.hh"
#include "tests/support/isolated.hh"

#include "build_config.hh"

namespace {

TEST(CApi, VersionAndNames) {
    EXPECT_STREQ(hb_version(), HB_VERSION);
    EXPECT_STREQ(hb_event_name(HB_NODE_DOWN), "NODE_DOWN");
    EXPECT_STREQ(hb_event_name(HB_DISK_SLOT_CONFLICT), "DISK_SLOT_CONFLICT");
    EXPECT_STREQ(hb_event_name(static_cast<hb_event_kind>(99)), "UNKNOWN");
    EXPECT_STREQ(hb_event_name(static_cast<hb_event_kind>(-1)), "UNKNOWN");
    EXPECT_STREQ(hb_path_state_name(HB_PATH_INIT), "INIT");
}

TEST(CApi, ConfigErrorsComeBackInTheBufferWithTheirLines) {
    std::string text = hb::test::loopback_config(1, 78);
    text.replace(text.find("id = 78"), 7, "id = \"x\"");
    char error[512];
    std::memset(error, 'z', sizeof error);
    EXPECT_EQ(hb_create_from_string(text.c_str(), "/nonexistent", error, sizeof error), nullptr);
    EXPECT_EQ(std::string(error).rfind("<config>:2:", 0), 0U) << error;

    // A short buffer gets the start of the message, NUL-terminated, and nothing past its end.
    char short_buffer[10];
    std::memset(short_buffer, 'z', sizeof short_buffer);
    EXPECT_EQ(hb_create_from_string(text.c_str(), nullptr, short_buffer, 8), nullptr);
    EXPECT_STREQ(short_buffer, "<config");  // 7 bytes and the NUL
    EXPECT_EQ(short_buffer[8], 'z');

    EXPECT_EQ(hb_create_from_file("/nonexistent/hb-capi.toml", error, sizeof error), nullptr);
    EXPECT_NE(std::string(error).find("/nonexistent/hb-capi.toml"), std::string::npos) << error;
    EXPECT_EQ(hb_create_from_file(nullptr, error, sizeof error), nullptr);
    EXPECT_NE(std::string(error).find("NULL"), std::string::npos) << error;
    // No buffer at all is allowed: the caller only learns that it failed.
    EXPECT_EQ(hb_create_from_string("[cluster", nullptr, nullptr, 0), nullptr);
}

TEST(CApi, NullHandlesAreRefused) {
    hb_event event;
    hb_stats stats;
    EXPECT_EQ(hb_start(nullptr), HB_ERR_ARGUMENT);
    EXPECT_EQ(hb_poll(nullptr, 0), HB_ERR_ARGUMENT);
    EXPECT_EQ(hb_next_event(nullptr, &event), HB_ERR_ARGUMENT);
    EXPECT_EQ(hb_run(nullptr), HB_ERR_ARGUMENT);
    EXPECT_EQ(hb_stop(nullptr), HB_ERR_ARGUMENT);
    EXPECT_EQ(hb_read_stats(nullptr, &stats, nullptr, 0), HB_ERR_ARGUMENT);
    EXPECT_EQ(hb_warning_count(nullptr), 0U);
    EXPECT_EQ(hb_warning(nullptr, 0), nullptr);
    EXPECT_STRNE(hb_last_error(nullptr), "");
    hb_request_stop(nullptr);
    hb_destroy(nullptr);
}

hb_node* create(int local, std::string& error) {
    char buffer[1024];
    hb_node* node = hb_create_from_string(hb::test::loopback_config(local, 78).c_str(), ".", buffer,
                                          sizeof buffer);
    error = buffer;
    return node;
}

std::string c_api_scenario() {
    REQUIRE(hb::test::sh("ip link set lo up"));
    std::string error;
    hb_node* alpha = create(1, error);
    REQUIRE_MSG(alpha != nullptr, error);
    hb_node* beta = create(2, error);
    REQUIRE_MSG(beta != nullptr, error);
    REQUIRE(hb_warning_count(alpha) >= 1);  // no key_file
    REQUIRE(std::string(hb_warning(alpha, 0)).find("allow_unauthenticated") != std::string::npos);
    REQUIRE(hb_warning(alpha, hb_warning_count(alpha)) == nullptr);

    // The wrong state is a code and a message, not a crash.
    hb_event event;
    REQUIRE(hb_poll(alpha, 0) == HB_ERR_STATE);
    REQUIRE(std::string(hb_last_error(alpha)).find("hb_start") != std::string::npos);
    REQUIRE(hb_run(alpha) == HB_ERR_STATE);
    REQUIRE(hb_stop(alpha) == HB_ERR_STATE);
    REQUIRE(hb_next_event(alpha, &event) == 0);  // nothing yet, but allowed
    REQUIRE(hb_next_event(alpha, nullptr) == HB_ERR_ARGUMENT);

    REQUIRE(hb_start(beta) == HB_OK);
    REQUIRE(std::string(hb_last_error(beta)).empty());
    std::thread beta_thread([beta] {
        hb_run(beta);   // until hb_request_stop
        hb_stop(beta);  // then leave gracefully, on its engine thread
    });
    REQUIRE(hb_start(alpha) == HB_OK);
    REQUIRE(hb_start(alpha) == HB_ERR_STATE);
    REQUIRE(hb_poll(alpha, -1) == HB_ERR_ARGUMENT);

    bool up = false;
    bool left = false;
    hb_event up_event{};
    std::string seen;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!left && std::chrono::steady_clock::now() < until) {
        const int polled = hb_poll(alpha, 50);
        REQUIRE_MSG(polled == 0 || polled == 1, hb_last_error(alpha));
        int got = 0;
        while ((got = hb_next_event(alpha, &event)) == 1) {
            seen += std::string(event.name) + " " + event.node_name + "\n";
            if (event.kind == HB_NODE_UP && event.node == 2 && !up) {
                up = true;
                up_event = event;
                hb_request_stop(beta);  // from another thread than beta's engine thread
            }
            left = left || (event.kind == HB_NODE_LEFT && event.node == 2);
        }
        REQUIRE_MSG(got == 0, hb_last_error(alpha));
    }
    hb_request_stop(beta);
    beta_thread.join();
    REQUIRE_MSG(up, "no NODE_UP for beta; events:\n" + seen);
    REQUIRE_MSG(left, "no NODE_LEFT for beta after hb_stop; events:\n" + seen);
    REQUIRE(std::strcmp(up_event.name, "NODE_UP") == 0);
    REQUIRE(std::strcmp(up_event.node_name, "beta") == 0);
    REQUIRE(up_event.network == -1 && up_event.network_name[0] == '\0');
    REQUIRE(up_event.adapter == -1 && up_event.adapter_name[0] == '\0');
    REQUIRE((up_event.evidence & HB_EVIDENCE_PATHS) != 0);
    REQUIRE(up_event.t_ns > 0);

    REQUIRE(hb_stop(alpha) == HB_OK);
    REQUIRE(hb_poll(alpha, 0) == HB_ERR_STATE);  // stopped for good
    hb_stats stats;
    REQUIRE(hb_read_stats(alpha, &stats, nullptr, 0) == HB_OK);  // the totals alone
    REQUIRE(stats.path_count == 1 && stats.publication > 0);
    hb_path_stats path{};
    REQUIRE(hb_read_stats(alpha, &stats, &path, 1) == HB_OK);
    REQUIRE(hb_read_stats(alpha, &stats, nullptr, 1) == HB_ERR_ARGUMENT);
    REQUIRE(stats.beats_accepted > 0 && stats.beats_sent > 0 && stats.events_emitted >= 2);
    REQUIRE(path.peer == 2 && path.network == 0 && path.beats_received > 0);
    REQUIRE(path.beats_sent == stats.beats_sent + stats.send_failures);
    REQUIRE(path.rtt_smoothed_ns > 0);
    hb_destroy(alpha);
    hb_destroy(beta);
    return {};
}

// A start that fails (here: the disk cannot be opened) is an error, and so is every later start:
// never a crash, whatever the engine had started before the failing part.
std::string failed_start_scenario() {
    REQUIRE(hb::test::sh("ip link set lo up"));
    const std::string text =
        hb::test::loopback_config(1, 78) + "[disk]\npath = \"/nonexistent/hb-disk\"\n";
    char buffer[1024];
    hb_node* node = hb_create_from_string(text.c_str(), ".", buffer, sizeof buffer);
    REQUIRE_MSG(node != nullptr, buffer);
    REQUIRE(hb_start(node) == HB_ERR_SYSTEM);
    REQUIRE_MSG(std::string(hb_last_error(node)).find("/nonexistent/hb-disk") != std::string::npos,
                hb_last_error(node));
    REQUIRE(hb_start(node) == HB_ERR_SYSTEM);
    REQUIRE_MSG(
        std::string(hb_last_error(node)).find("failed to start before") != std::string::npos,
        hb_last_error(node));
    REQUIRE(hb_poll(node, 0) == HB_ERR_STATE);
    REQUIRE(hb_stop(node) == HB_ERR_STATE);
    hb_destroy(node);
    return {};
}

TEST(CApi, AFailedStartIsAnErrorEveryTime) {
    if (!HB_HAVE_LIBURING) {
        GTEST_SKIP() << "built without liburing: [disk] is refused by the configuration";
    }
    HB_RUN_ISOLATED(failed_start_scenario, 60);
}

TEST(CApi, TwoNodesOnLoopbackReportEventsAndStats) {
    HB_RUN_ISOLATED(c_api_scenario, 60);
}

}  // namespace

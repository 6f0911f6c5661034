// The link watch against real rtnetlink: every scenario runs in a forked child inside its own
// network namespace (veth pairs only there), so the host's interfaces are never touched.
#include "policy/link_watch.hh"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/allocation_counter.hh"
#include "tests/support/isolated.hh"

using hb::test::allocations;

namespace hb::policy {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int change_timeout_ms = 2000;

std::uint64_t data_path_allocations = 0;

using hb::test::sh;

std::size_t counted_poll(LinkWatch& watch, std::span<LinkChange> out) {
    const std::uint64_t before = allocations.load(std::memory_order_relaxed);
    const std::size_t count = watch.poll(out);
    data_path_allocations += allocations.load(std::memory_order_relaxed) - before;
    return count;
}

void counted_request_stats(LinkWatch& watch) {
    const std::uint64_t before = allocations.load(std::memory_order_relaxed);
    watch.request_stats();
    data_path_allocations += allocations.load(std::memory_order_relaxed) - before;
}

// Polls (fd readiness, then poll()) until `done` holds or `timeout_ms` passes, collecting changes.
[[nodiscard]] bool poll_until(LinkWatch& watch, std::vector<LinkChange>& seen,
                              const std::function<bool()>& done,
                              int timeout_ms = change_timeout_ms) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    std::array<LinkChange, 4> out{};
    for (;;) {
        std::size_t count = 0;
        do {
            count = counted_poll(watch, out);
            seen.insert(seen.end(), out.begin(), out.begin() + static_cast<std::ptrdiff_t>(count));
        } while (count == out.size());
        if (done()) {
            return true;
        }
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) {
            return false;
        }
        pollfd pfd{.fd = watch.fd(), .events = POLLIN, .revents = 0};
        (void)::poll(&pfd, 1, static_cast<int>(std::min<long>(left, 100)));
    }
}

[[nodiscard]] bool wait_for_state(LinkWatch& watch, std::uint32_t index, LinkState expected,
                                  std::vector<LinkChange>& seen) {
    return poll_until(watch, seen, [&] { return watch.status(index).state == expected; });
}

[[nodiscard]] bool saw_change(const std::vector<LinkChange>& seen, std::uint32_t index,
                              LinkState old_state, LinkState new_state) {
    for (const LinkChange& change : seen) {
        if (change.index == index && change.old_state == old_state &&
            change.new_state == new_state) {
            return true;
        }
    }
    return false;
}

[[nodiscard]] std::string describe(const LinkStatus& status) {
    return std::string("state=") + to_string(status.state) +
           " admin_up=" + std::to_string(status.admin_up) +
           " carrier=" + std::to_string(status.carrier) +
           " operstate=" + std::to_string(status.operstate) +
           " ifindex=" + std::to_string(status.ifindex);
}

[[nodiscard]] std::unique_ptr<LinkWatch> open_or_null(const std::vector<std::string>& names,
                                                      std::string& error) {
    auto opened = LinkWatch::open(names);
    if (auto* message = std::get_if<std::string>(&opened)) {
        error = *message;
        return nullptr;
    }
    return std::move(std::get<std::unique_ptr<LinkWatch>>(opened));
}

// Creates the veth pair a0/a1, both up, and waits until the kernel reports a0 up (carrier and
// operstate settle asynchronously after `ip link set up`).
[[nodiscard]] std::string make_up_pair() {
    REQUIRE(sh("ip link add a0 type veth peer name a1 && ip link set a1 up && ip link set a0 up"));
    std::string error;
    auto probe = open_or_null({"a0"}, error);
    REQUIRE_MSG(probe != nullptr, error);
    std::vector<LinkChange> seen;
    REQUIRE_MSG(wait_for_state(*probe, 0, LinkState::up, seen), describe(probe->status(0)));
    return {};
}

TEST(LinkWatch, RejectsBadNames) {
    const std::vector<std::string> too_long{"abcdefghijklmnop"};
    EXPECT_TRUE(std::holds_alternative<std::string>(LinkWatch::open(too_long)));
    const std::vector<std::string> twice{"eth0", "eth0"};
    auto result = LinkWatch::open(twice);
    ASSERT_TRUE(std::holds_alternative<std::string>(result));
    EXPECT_NE(std::get<std::string>(result).find("twice"), std::string::npos);
    EXPECT_TRUE(std::holds_alternative<std::string>(LinkWatch::open({})));
}

TEST(LinkWatch, InitialStateReadAtOpen) {
    HB_RUN_ISOLATED([]() -> std::string {
        if (std::string error = make_up_pair(); !error.empty()) {
            return error;
        }
        REQUIRE(sh("ip link add b0 type veth peer name b1"));
        std::string error;
        auto watch = open_or_null({"a0", "b0", "c0"}, error);
        REQUIRE_MSG(watch != nullptr, error);
        const LinkStatus& a0 = watch->status(0);
        REQUIRE_MSG(a0.state == LinkState::up, describe(a0));
        REQUIRE(a0.admin_up && a0.carrier && a0.operstate == IF_OPER_UP && a0.ifindex > 0);
        const LinkStatus& b0 = watch->status(1);
        REQUIRE_MSG(b0.state == LinkState::down, describe(b0));
        REQUIRE(!b0.admin_up && b0.ifindex > 0);
        const LinkStatus& c0 = watch->status(2);
        REQUIRE_MSG(c0.state == LinkState::missing, describe(c0));
        REQUIRE(c0.ifindex == 0);
        REQUIRE(watch->counters().dumps >= 1);
        // Nothing changed since open: the initial state is not reported as a change.
        std::array<LinkChange, 4> out{};
        REQUIRE(counted_poll(*watch, out) == 0);
        return {};
    });
}

TEST(LinkWatch, AdminDownThenUp) {
    HB_RUN_ISOLATED([]() -> std::string {
        if (std::string error = make_up_pair(); !error.empty()) {
            return error;
        }
        std::string error;
        auto watch = open_or_null({"a0"}, error);
        REQUIRE_MSG(watch != nullptr, error);
        REQUIRE(watch->status(0).state == LinkState::up);
        std::vector<LinkChange> seen;
        REQUIRE(sh("ip link set a0 down"));
        REQUIRE_MSG(wait_for_state(*watch, 0, LinkState::down, seen), describe(watch->status(0)));
        REQUIRE(saw_change(seen, 0, LinkState::up, LinkState::down));
        REQUIRE(!watch->status(0).admin_up);
        REQUIRE(sh("ip link set a0 up"));
        REQUIRE_MSG(wait_for_state(*watch, 0, LinkState::up, seen), describe(watch->status(0)));
        REQUIRE(saw_change(seen, 0, LinkState::down, LinkState::up));
        REQUIRE(watch->counters().events >= 2);
        return {};
    });
}

// The poll_uplink case: our end stays administratively up, the far end goes away.
TEST(LinkWatch, PeerDownLosesCarrier) {
    HB_RUN_ISOLATED([]() -> std::string {
        if (std::string error = make_up_pair(); !error.empty()) {
            return error;
        }
        std::string error;
        auto watch = open_or_null({"a0"}, error);
        REQUIRE_MSG(watch != nullptr, error);
        std::vector<LinkChange> seen;
        REQUIRE(sh("ip link set a1 down"));
        REQUIRE_MSG(wait_for_state(*watch, 0, LinkState::down, seen), describe(watch->status(0)));
        REQUIRE(saw_change(seen, 0, LinkState::up, LinkState::down));
        const LinkStatus& a0 = watch->status(0);
        REQUIRE_MSG(a0.admin_up && !a0.carrier, describe(a0));
        REQUIRE_MSG(a0.operstate == IF_OPER_LOWERLAYERDOWN, describe(a0));
        REQUIRE(sh("ip link set a1 up"));
        REQUIRE_MSG(wait_for_state(*watch, 0, LinkState::up, seen), describe(watch->status(0)));
        REQUIRE(watch->status(0).carrier);
        return {};
    });
}

TEST(LinkWatch, DeletedInterfaceBecomesMissing) {
    HB_RUN_ISOLATED([]() -> std::string {
        if (std::string error = make_up_pair(); !error.empty()) {
            return error;
        }
        std::string error;
        auto watch = open_or_null({"a0", "a1"}, error);
        REQUIRE_MSG(watch != nullptr, error);
        std::vector<LinkChange> seen;
        REQUIRE(sh("ip link del a0"));
        REQUIRE_MSG(wait_for_state(*watch, 0, LinkState::missing, seen),
                    describe(watch->status(0)));
        // Deleting one end of a veth pair deletes the other.
        REQUIRE_MSG(wait_for_state(*watch, 1, LinkState::missing, seen),
                    describe(watch->status(1)));
        // Unregistering takes the device down first, so "down" may be reported on the way.
        REQUIRE(saw_change(seen, 0, LinkState::up, LinkState::missing) ||
                saw_change(seen, 0, LinkState::down, LinkState::missing));
        REQUIRE(!seen.empty() && seen.front().old_state == LinkState::up);
        REQUIRE(watch->status(0).ifindex == 0 && !watch->status(0).admin_up);
        return {};
    });
}

TEST(LinkWatch, CreatedLaterBecomesKnown) {
    HB_RUN_ISOLATED([]() -> std::string {
        std::string error;
        auto watch = open_or_null({"c0"}, error);
        REQUIRE_MSG(watch != nullptr, error);
        REQUIRE(watch->status(0).state == LinkState::missing);
        std::vector<LinkChange> seen;
        REQUIRE(sh("ip link add c0 type veth peer name c1"));
        REQUIRE_MSG(wait_for_state(*watch, 0, LinkState::down, seen), describe(watch->status(0)));
        REQUIRE(saw_change(seen, 0, LinkState::missing, LinkState::down));
        REQUIRE(watch->status(0).ifindex > 0);
        REQUIRE(sh("ip link set c1 up && ip link set c0 up"));
        REQUIRE_MSG(wait_for_state(*watch, 0, LinkState::up, seen), describe(watch->status(0)));
        return {};
    });
}

TEST(LinkWatch, RenameMovesTheName) {
    HB_RUN_ISOLATED([]() -> std::string {
        if (std::string error = make_up_pair(); !error.empty()) {
            return error;
        }
        std::string error;
        auto watch = open_or_null({"a0", "r0"}, error);
        REQUIRE_MSG(watch != nullptr, error);
        const int ifindex = watch->status(0).ifindex;
        REQUIRE(watch->status(1).state == LinkState::missing);
        std::vector<LinkChange> seen;
        REQUIRE(sh("ip link set a0 down && ip link set a0 name r0"));
        REQUIRE_MSG(wait_for_state(*watch, 0, LinkState::missing, seen),
                    describe(watch->status(0)));
        REQUIRE_MSG(wait_for_state(*watch, 1, LinkState::down, seen), describe(watch->status(1)));
        REQUIRE(watch->status(1).ifindex == ifindex);
        REQUIRE(saw_change(seen, 1, LinkState::missing, LinkState::down));
        REQUIRE(sh("ip link set r0 up"));
        REQUIRE_MSG(wait_for_state(*watch, 1, LinkState::up, seen), describe(watch->status(1)));
        return {};
    });
}

// Sends ICMP echo requests to `address` from a raw socket (the image has no ping binary).
[[nodiscard]] std::string send_echoes(const char* address, int count) {
    const int sock = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    REQUIRE_MSG(sock >= 0, std::strerror(errno));
    sockaddr_in target{};
    target.sin_family = AF_INET;
    REQUIRE(inet_pton(AF_INET, address, &target.sin_addr) == 1);
    for (int i = 0; i < count; ++i) {
        std::array<std::uint16_t, 16> packet{};  // 8-byte header + 24 bytes of payload
        icmphdr header{};
        header.type = ICMP_ECHO;
        header.un.echo.id = htons(0x6862);
        header.un.echo.sequence = htons(static_cast<std::uint16_t>(i));
        std::memcpy(packet.data(), &header, sizeof(header));
        std::uint32_t sum = 0;
        for (const std::uint16_t word : packet) {
            sum += word;
        }
        while ((sum >> 16) != 0) {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        header.checksum = static_cast<std::uint16_t>(~sum);
        std::memcpy(packet.data(), &header, sizeof(header));
        const ssize_t sent = sendto(sock, packet.data(), sizeof(packet), 0,
                                    reinterpret_cast<const sockaddr*>(&target), sizeof(target));
        if (sent < 0) {
            const int error = errno;
            close(sock);
            return std::string("sendto: ") + std::strerror(error);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    close(sock);
    return {};
}

[[nodiscard]] bool wait_for_dump(LinkWatch& watch, std::vector<LinkChange>& seen) {
    const std::uint64_t dumps = watch.counters().dumps;
    counted_request_stats(watch);
    return poll_until(watch, seen, [&] { return watch.counters().dumps > dumps; });
}

// Rule 3's input: a0's rx counters grow when its peer (in a second namespace, so the traffic
// really crosses the pair instead of looping back locally) answers pings.
TEST(LinkWatch, RxCountersGrowAfterTraffic) {
    HB_RUN_ISOLATED([]() -> std::string {
        int hold[2];
        REQUIRE(pipe2(hold, O_CLOEXEC) == 0);
        const pid_t peer = fork();
        REQUIRE(peer >= 0);
        if (peer == 0) {
            close(hold[1]);
            if (unshare(CLONE_NEWNET) != 0) {
                _exit(1);
            }
            char ignored = 0;
            while (read(hold[0], &ignored, 1) > 0) {
            }
            _exit(0);
        }
        close(hold[0]);
        // Closing our end releases the peer; reaping it destroys its namespace and the pair.
        struct PeerGuard {
            int fd;
            pid_t pid;
            ~PeerGuard() {
                close(fd);
                int status = 0;
                waitpid(pid, &status, 0);
            }
        } guard{hold[1], peer};

        // The peer unshares asynchronously: wait until its namespace differs from ours.
        const std::string own_ns = "/proc/self/ns/net";
        const std::string peer_ns = "/proc/" + std::to_string(peer) + "/ns/net";
        bool separated = false;
        for (int i = 0; i < 200 && !separated; ++i) {
            std::array<char, 64> own{};
            std::array<char, 64> other{};
            const ssize_t own_length = readlink(own_ns.c_str(), own.data(), own.size() - 1);
            const ssize_t other_length = readlink(peer_ns.c_str(), other.data(), other.size() - 1);
            separated =
                own_length > 0 && other_length > 0 && std::strcmp(own.data(), other.data()) != 0;
            if (!separated) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        }
        REQUIRE_MSG(separated, "peer namespace not created");
        const std::string in_peer = "nsenter -t " + std::to_string(peer) + " -n ";
        REQUIRE(sh("ip link add a0 type veth peer name a1 netns " + std::to_string(peer)));
        REQUIRE(sh(in_peer + "ip addr add 198.18.0.2/24 dev a1"));
        REQUIRE(sh(in_peer + "ip link set a1 up"));
        REQUIRE(sh("ip addr add 198.18.0.1/24 dev a0 && ip link set a0 up"));

        std::string error;
        auto watch = open_or_null({"a0"}, error);
        REQUIRE_MSG(watch != nullptr, error);
        std::vector<LinkChange> seen;
        REQUIRE_MSG(wait_for_state(*watch, 0, LinkState::up, seen), describe(watch->status(0)));
        REQUIRE(wait_for_dump(*watch, seen));
        const std::uint64_t packets_before = watch->status(0).rx_packets;
        const std::uint64_t bytes_before = watch->status(0).rx_bytes;

        if (std::string failed = send_echoes("198.18.0.2", 5); !failed.empty()) {
            return failed;
        }
        // The ARP reply and the echo replies arrive on a0.
        REQUIRE(poll_until(*watch, seen, [&] {
            if (!watch->dump_in_flight()) {
                counted_request_stats(*watch);
            }
            return watch->status(0).rx_packets >= packets_before + 5;
        }));
        REQUIRE(watch->status(0).rx_bytes > bytes_before);
        REQUIRE(watch->status(0).state == LinkState::up);
        return {};
    });
}

// A burst of link events larger than the socket buffer makes the kernel drop notifications; the
// watch must notice (ENOBUFS), resynchronise with a dump, and end up with the true state.
TEST(LinkWatch, ResynchronisesAfterEnobufs) {
    HB_RUN_ISOLATED([]() -> std::string {
        if (std::string error = make_up_pair(); !error.empty()) {
            return error;
        }
        std::string error;
        auto watch = open_or_null({"a0", "z0"}, error);
        REQUIRE_MSG(watch != nullptr, error);
        REQUIRE(watch->status(1).state == LinkState::missing);
        std::string batch;
        for (int i = 0; i < 300; ++i) {
            batch += "link add v" + std::to_string(i) + " type veth peer name w" +
                     std::to_string(i) + "\n";
        }
        batch += "link del a0\nlink add z0 type veth peer name z1\n";
        const std::string path = "/tmp/hb_link_watch_batch." + std::to_string(getpid());
        FILE* file = std::fopen(path.c_str(), "w");
        REQUIRE(file != nullptr);
        std::fputs(batch.c_str(), file);
        std::fclose(file);
        const bool created = sh("ip -batch " + path);
        std::remove(path.c_str());
        REQUIRE(created);

        std::vector<LinkChange> seen;
        REQUIRE(poll_until(
            *watch, seen,
            [&] {
                return watch->status(0).state == LinkState::missing &&
                       watch->status(1).state == LinkState::down && !watch->dump_in_flight();
            },
            10'000));
        REQUIRE_MSG(watch->counters().resyncs >= 1,
                    "events=" + std::to_string(watch->counters().events));
        REQUIRE(saw_change(seen, 0, LinkState::up, LinkState::missing));
        REQUIRE(saw_change(seen, 1, LinkState::missing, LinkState::down));
        REQUIRE(watch->counters().parse_errors == 0);
        return {};
    });
}

}  // namespace
}  // namespace hb::policy

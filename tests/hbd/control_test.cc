// Tests of hbd's control socket and metrics endpoint over real sockets (a Unix socket in a temp
// directory, TCP on loopback), served by polling them as the engine loop does: request parsing,
// status replies, event subscriptions, a lagging subscriber, stale and live sockets, HTTP.
#include "tools/hbd/control.hh"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "tests/hbd/node_view.hh"
#include "tests/support/test_cluster.hh"
#include "tools/hbd/metrics.hh"

namespace hb::hbd {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr Timing timing{.interval_ns = 10 * nanos_per_ms, .multiplier = 3, .up_count = 2};

TEST(RequestTest, ParsesStatusAndEvents) {
    auto parsed = parse_request(R"({"request":"status"})");
    ASSERT_TRUE(std::holds_alternative<Request>(parsed));
    EXPECT_EQ(std::get<Request>(parsed).kind, Request::Kind::status);

    parsed = parse_request(R"( {"request":"events","last":5,"follow":true} )");
    ASSERT_TRUE(std::holds_alternative<Request>(parsed));
    EXPECT_EQ(std::get<Request>(parsed).kind, Request::Kind::events);
    EXPECT_EQ(std::get<Request>(parsed).last, 5U);
    EXPECT_TRUE(std::get<Request>(parsed).follow);

    parsed = parse_request(R"({"request":"events","last":100000})");
    ASSERT_TRUE(std::holds_alternative<Request>(parsed));
    EXPECT_EQ(std::get<Request>(parsed).last, EventRecord::default_history);  // capped
    EXPECT_FALSE(std::get<Request>(parsed).follow);
}

TEST(RequestTest, RefusesWhatIsNoRequestSayingWhy) {
    const auto error_of = [](std::string_view line) {
        auto parsed = parse_request(line);
        return std::holds_alternative<std::string>(parsed) ? std::get<std::string>(parsed)
                                                           : std::string("(accepted)");
    };
    EXPECT_EQ(error_of("status"), "not a JSON object");
    EXPECT_EQ(error_of("[1]"), "not a JSON object");
    EXPECT_EQ(error_of(R"({"request":"status")"), "not a JSON object");
    EXPECT_EQ(error_of(R"({})"), R"(needs "request": "status" or "events")");
    EXPECT_EQ(error_of(R"({"request":5})"), R"(needs "request": "status" or "events")");
    EXPECT_EQ(error_of(R"({"request":"reboot"})"),
              R"(unknown request "reboot": "status" or "events")");
    EXPECT_EQ(error_of(R"({"request":"status","last":1})"),
              R"(unknown key "last" in a status request)");
    EXPECT_EQ(error_of(R"({"request":"events","folow":true})"),
              R"(unknown key "folow" in a events request)");
    EXPECT_EQ(error_of(R"({"request":"events","follow":1})"), R"("follow" must be true or false)");
    EXPECT_EQ(error_of(R"({"request":"events","last":-1})"),
              R"("last" must be a non-negative integer)");
    EXPECT_EQ(error_of(R"({"request":"events","last":"3"})"),
              R"("last" must be a non-negative integer)");
}

class TempDir {
public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "hb_control_XXXXXX").native();
        HB_ASSERT(mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    ~TempDir() { fs::remove_all(path_); }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

int connect_unix(const fs::path& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

void send_text(int fd, std::string_view text) {
    ASSERT_EQ(::send(fd, text.data(), text.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(text.size()));
}

// A node with a control socket, polled as hbd's loop would between the client's steps.
struct ServerFixture {
    test::TestCluster cluster{3, 1, NetworkMode::unicast, timing};
    EventRecord events;
    TempDir dir;
    fs::path socket = dir.path() / "run" / "hb" / "7-1.sock";
    std::unique_ptr<ControlServer> server;

    NodeView view() { return view_of(cluster.node(1), events); }
    void open(std::size_t output_bytes = 0) {
        auto opened = ControlServer::open(socket, view(), output_bytes);
        ASSERT_TRUE(std::holds_alternative<std::unique_ptr<ControlServer>>(opened))
            << std::get<std::string>(opened);
        server = std::move(std::get<std::unique_ptr<ControlServer>>(opened));
    }
    // Polls the server until `fd` has a whole line (or EOF); returns the line, "" at EOF.
    std::string read_line(int fd, std::string& pending) {
        for (int round = 0; round < 2000; ++round) {
            const std::size_t end = pending.find('\n');
            if (end != std::string::npos) {
                std::string line = pending.substr(0, end);
                pending.erase(0, end + 1);
                return line;
            }
            server->poll(monotonic_now());
            pollfd ready{.fd = fd, .events = POLLIN, .revents = 0};
            if (::poll(&ready, 1, 5) == 1) {
                char chunk[65536];
                const ssize_t count = ::read(fd, chunk, sizeof chunk);
                if (count <= 0) {
                    return "";
                }
                pending.append(chunk, static_cast<std::size_t>(count));
            }
        }
        ADD_FAILURE() << "no line from the control socket";
        return "";
    }
};

TEST(ControlServerTest, CreatesItsDirectoryAndAnswersStatus) {
    ServerFixture f;
    f.cluster.run_for(300 * nanos_per_ms);
    f.open();
    struct stat status {};
    ASSERT_EQ(::stat(f.socket.parent_path().c_str(), &status), 0);
    EXPECT_EQ(status.st_mode & 07777, 0750U);
    ASSERT_EQ(::lstat(f.socket.c_str(), &status), 0);
    EXPECT_TRUE(S_ISSOCK(status.st_mode));

    const int fd = connect_unix(f.socket);
    ASSERT_GE(fd, 0);
    // Two requests in one write, and a bad one: each gets its own reply line, in order.
    send_text(fd, "{\"request\":\"status\"}\nnonsense\r\n{\"request\":\"status\"}\n");
    std::string pending;
    for (int reply = 0; reply < 3; ++reply) {
        const Json parsed = Json::parse(f.read_line(fd, pending), nullptr, false);
        ASSERT_TRUE(parsed.is_object());
        if (reply == 1) {
            EXPECT_EQ(parsed["error"], "bad request: not a JSON object");
            continue;
        }
        EXPECT_EQ(parsed["node"]["id"], 1);
        EXPECT_EQ(parsed["peers"][0]["state"], "up");
        EXPECT_EQ(parsed["control"]["clients"], 1);
    }
    EXPECT_EQ(f.server->counters().requests, 3U);
    EXPECT_EQ(f.server->counters().bad_requests, 1U);
    ::close(fd);
    f.server.reset();
    EXPECT_FALSE(fs::exists(f.socket)) << "the socket is removed at exit";
}

TEST(ControlServerTest, RefusesAnOverlongRequestAndCloses) {
    ServerFixture f;
    f.open();
    const int fd = connect_unix(f.socket);
    ASSERT_GE(fd, 0);
    send_text(fd, std::string(ControlServer::request_max_bytes + 10, 'x'));
    std::string pending;
    EXPECT_EQ(f.read_line(fd, pending), R"({"error":"request longer than 1024 bytes"})");
    EXPECT_EQ(f.read_line(fd, pending), "");  // closed
    ::close(fd);
}

TEST(ControlServerTest, SendsRememberedEventsThenFollows) {
    ServerFixture f;
    f.open();
    const ClusterConfig& config = f.cluster.node(1).config;
    for (NodeId node : {2, 3}) {
        const Event event{.kind = EventKind::node_up, .node = node, .t_ns = node};
        f.events.record(event);
    }
    // Without follow: the remembered events, then the connection closes.
    int fd = connect_unix(f.socket);
    send_text(fd, "{\"request\":\"events\",\"last\":10}\n");
    std::string pending;
    EXPECT_EQ(f.read_line(fd, pending), event_to_json(f.events.recent(2, 0), config));
    EXPECT_EQ(f.read_line(fd, pending), event_to_json(f.events.recent(2, 1), config));
    EXPECT_EQ(f.read_line(fd, pending), "");
    ::close(fd);

    // With follow: the last one, then each published event as it happens.
    fd = connect_unix(f.socket);
    send_text(fd, "{\"request\":\"events\",\"last\":1,\"follow\":true}\n");
    pending.clear();
    EXPECT_EQ(f.read_line(fd, pending), event_to_json(f.events.recent(1, 0), config));
    EXPECT_EQ(f.server->counters().subscribers, 1U);
    const Event down{.kind = EventKind::node_down, .node = 3, .t_ns = 99};
    f.server->publish(event_to_json(down, config));
    EXPECT_EQ(f.read_line(fd, pending), event_to_json(down, config));
    ::close(fd);
    for (int i = 0; i < 100 && f.server->counters().subscribers != 0; ++i) {
        f.server->poll(monotonic_now());
        ::usleep(1000);
    }
    EXPECT_EQ(f.server->counters().subscribers, 0U);
    EXPECT_EQ(f.server->counters().clients, 0U);
}

TEST(ControlServerTest, ALaggingSubscriberIsToldAndDisconnectedWithoutBlocking) {
    ServerFixture f;
    f.open(4096);
    const int fd = connect_unix(f.socket);
    send_text(fd, "{\"request\":\"events\",\"follow\":true}\n");
    for (int i = 0; i < 100 && f.server->counters().subscribers == 0; ++i) {
        f.server->poll(monotonic_now());
        ::usleep(1000);
    }
    ASSERT_EQ(f.server->counters().subscribers, 1U);
    // The client reads nothing: the kernel's buffer fills, then the server's 4 KiB; publishing
    // never waits for it.
    const std::string line =
        event_to_json(Event{.kind = EventKind::node_up, .node = 2}, f.cluster.node(1).config);
    const Nanos started = monotonic_now();
    for (int i = 0; i < 20000 && f.server->counters().lagged == 0; ++i) {
        f.server->publish(line);
    }
    EXPECT_LT(monotonic_now() - started, 10 * nanos_per_s);  // generous: never blocked
    EXPECT_EQ(f.server->counters().lagged, 1U);
    // What it reads: whole event lines, then the notice, then the end.
    std::string pending;
    std::string last;
    std::size_t events = 0;
    for (std::string got; !(got = f.read_line(fd, pending)).empty(); last = got) {
        events += got == line ? 1 : 0;
    }
    EXPECT_GT(events, 10U);
    const Json notice = Json::parse(last, nullptr, false);
    ASSERT_TRUE(notice.is_object()) << last;
    EXPECT_EQ(notice["error"], "lagged");
    ::close(fd);
}

TEST(ControlServerTest, ReplacesAStaleSocketButNotALiveOne) {
    ServerFixture f;
    fs::create_directories(f.socket.parent_path());
    {
        // A socket file nobody listens on: what a killed hbd leaves.
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, f.socket.c_str(), sizeof address.sun_path - 1);
        ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
        ::close(fd);
    }
    f.open();
    const int fd = connect_unix(f.socket);
    EXPECT_GE(fd, 0);
    ::close(fd);

    auto second = ControlServer::open(f.socket, f.view());
    ASSERT_TRUE(std::holds_alternative<std::string>(second));
    EXPECT_NE(std::get<std::string>(second).find("another process serves the control socket"),
              std::string::npos)
        << std::get<std::string>(second);

    const fs::path file = f.dir.path() / "plain";
    std::fclose(std::fopen(file.c_str(), "w"));
    auto on_file = ControlServer::open(file, f.view());
    ASSERT_TRUE(std::holds_alternative<std::string>(on_file));
    EXPECT_NE(std::get<std::string>(on_file).find("exists and is not a socket"), std::string::npos);
    EXPECT_TRUE(fs::exists(file)) << "never removes what is not a socket";
}

// ---- the metrics endpoint ---------------------------------------------------------------------

std::string http_exchange(MetricsServer& server, std::string_view request) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(server.port());
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
    send_text(fd, request);
    std::string reply;
    for (int round = 0; round < 2000; ++round) {
        server.poll(monotonic_now());
        pollfd ready{.fd = fd, .events = POLLIN, .revents = 0};
        if (::poll(&ready, 1, 5) == 1) {
            char chunk[65536];
            const ssize_t count = ::read(fd, chunk, sizeof chunk);
            if (count <= 0) {
                break;
            }
            reply.append(chunk, static_cast<std::size_t>(count));
        }
    }
    ::close(fd);
    return reply;
}

TEST(MetricsServerTest, ServesGetMetricsAndRefusesTheRest) {
    test::TestCluster cluster(2, 1, NetworkMode::unicast, timing);
    cluster.run_for(300 * nanos_per_ms);
    EventRecord events;
    const NodeView view = view_of(cluster.node(1), events);
    auto opened = MetricsServer::open(*Ipv4::parse("127.0.0.1"), 0, view);
    ASSERT_TRUE(std::holds_alternative<std::unique_ptr<MetricsServer>>(opened))
        << std::get<std::string>(opened);
    MetricsServer& server = *std::get<std::unique_ptr<MetricsServer>>(opened);
    ASSERT_NE(server.port(), 0);

    const std::string reply =
        http_exchange(server, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
    ASSERT_TRUE(reply.starts_with("HTTP/1.1 200 OK\r\n")) << reply.substr(0, 200);
    EXPECT_NE(reply.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
              std::string::npos);
    const std::size_t body_at = reply.find("\r\n\r\n") + 4;
    const std::string length = "Content-Length: " + std::to_string(reply.size() - body_at) + "\r\n";
    EXPECT_NE(reply.find(length), std::string::npos) << "the whole body arrived";
    EXPECT_NE(reply.find("\nhb_path_state{network=\"net_0\",adapter=\"eth0\",peer=\"2\","
                         "peer_name=\"node2\",peer_adapter=\"eth0\"} 2\n"),
              std::string::npos);
    EXPECT_EQ(server.scrapes(), 1U);

    EXPECT_TRUE(http_exchange(server, "GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
    EXPECT_TRUE(
        http_exchange(server, "DELETE /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
    EXPECT_TRUE(http_exchange(server, "garbage\r\n\r\n").starts_with("HTTP/1.1 400 "));
    EXPECT_TRUE(http_exchange(server, std::string(5000, 'G')).starts_with("HTTP/1.1 431 "));
}

TEST(MetricsServerTest, ABusyPortIsAnErrorNamingIt) {
    test::TestCluster cluster(2, 1, NetworkMode::unicast, timing);
    EventRecord events;
    const NodeView view = view_of(cluster.node(1), events);
    auto first = MetricsServer::open(*Ipv4::parse("127.0.0.1"), 0, view);
    ASSERT_TRUE(std::holds_alternative<std::unique_ptr<MetricsServer>>(first));
    const std::uint16_t port = std::get<std::unique_ptr<MetricsServer>>(first)->port();
    auto second = MetricsServer::open(*Ipv4::parse("127.0.0.1"), port, view);
    ASSERT_TRUE(std::holds_alternative<std::string>(second));
    EXPECT_NE(
        std::get<std::string>(second).find("cannot listen on 127.0.0.1:" + std::to_string(port)),
        std::string::npos);
}

}  // namespace
}  // namespace hb::hbd

// Tests of hbd's status (the JSON of `hbctl status --json`), its metrics exposition and hbctl's
// table, rendered from real engines and detectors on a manual clock (TestCluster): the right path
// and peer states before and after a fault, and every field an operator reads.
#include "tools/hbd/status.hh"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "policy/timing.hh"
#include "tests/hbd/node_view.hh"
#include "tests/support/test_cluster.hh"
#include "tools/hbctl/render.hh"
#include "tools/hbd/metrics.hh"

namespace hb::hbd {
namespace {

using Json = nlohmann::json;

constexpr Timing timing{.interval_ns = 10 * nanos_per_ms, .multiplier = 3, .up_count = 2};

// Node 1 of a three-node cluster on two unicast networks, with its events recorded.
struct Fixture {
    test::TestCluster cluster{3, 2, NetworkMode::unicast, timing};
    EventRecord events;
    ControlCounters control;

    NodeView view() {
        test::TestCluster::Member& member = cluster.node(1);
        return NodeView{.engine = *member.engine,
                        .detector = member.detector,
                        .health = {},
                        .disk = nullptr,
                        .events = events,
                        .control = &control,
                        .started_ns = nanos_per_s};  // when TestCluster starts its clock
    }
    void run_for(Nanos duration_ns) {
        cluster.run_for(duration_ns);
        test::TestCluster::Member& member = cluster.node(1);
        for (const Event& event : member.events) {
            events.record(event);
        }
        member.events.clear();
    }
    Json status() {
        std::string out;
        render_status_json(view(), cluster.now(), out);
        Json parsed = Json::parse(out, nullptr, false);
        EXPECT_FALSE(parsed.is_discarded()) << out;
        return parsed;
    }
};

// Every path of node 1 to `peer`, as (network, path object).
std::vector<Json> paths_to(const Json& status, int peer) {
    std::vector<Json> found;
    for (const Json& network : status["networks"]) {
        for (const Json& adapter : network["adapters"]) {
            for (const Json& path : adapter["paths"]) {
                if (path["peer"] == peer) {
                    found.push_back(path);
                }
            }
        }
    }
    return found;
}

const Json& peer(const Json& status, int id) {
    for (const Json& each : status["peers"]) {
        if (each["id"] == id) {
            return each;
        }
    }
    throw std::logic_error("no peer " + std::to_string(id));
}

TEST(StatusTest, ShowsEveryNetworkAdapterPathAndPeerWhenAllAreUp) {
    Fixture f;
    f.run_for(500 * nanos_per_ms);
    const Json status = f.status();
    EXPECT_EQ(status["cluster"], 7);
    EXPECT_EQ(status["node"]["id"], 1);
    EXPECT_EQ(status["node"]["name"], "node1");
    EXPECT_EQ(status["node"]["isolated"], false);
    EXPECT_NEAR(status["node"]["uptime_s"].get<double>(), 0.5, 0.01);
    ASSERT_EQ(status["networks"].size(), 2U);
    for (const Json& network : status["networks"]) {
        EXPECT_EQ(network["mode"], "unicast");
        EXPECT_EQ(network["multiplier"], 3);
        EXPECT_DOUBLE_EQ(network["interval_ms"].get<double>(), 10.0);
        EXPECT_EQ(network["state"], "up");
        ASSERT_EQ(network["adapters"].size(), 1U);
        const Json& adapter = network["adapters"][0];
        EXPECT_EQ(adapter["state"], "up");
        EXPECT_TRUE(adapter["down_by"].empty());
        ASSERT_EQ(adapter["paths"].size(), 2U);  // to node 2 and node 3
        for (const Json& path : adapter["paths"]) {
            EXPECT_EQ(path["state"], "up") << path;
            // About 500 ms / 10 ms, sent at 75..90 % of the interval.
            EXPECT_GT(path["sent"].get<int>(), 40) << path;
            EXPECT_GT(path["received"].get<int>(), 40) << path;
            EXPECT_EQ(path["missed"], 0) << path;
            EXPECT_DOUBLE_EQ(path["loss_pct"].get<double>(), 0.0);
            EXPECT_TRUE(path["rtt_last_ms"].is_number()) << path;
            EXPECT_TRUE(path["rtt_avg_ms"].is_number()) << path;
            EXPECT_LE(path["last_heard_ms_ago"].get<double>(), 10.0) << path;
            EXPECT_EQ(path["multiplier"], 3);
        }
    }
    for (int id : {2, 3}) {
        EXPECT_EQ(peer(status, id)["state"], "up");
        EXPECT_EQ(peer(status, id)["paths_up"], 2);
        EXPECT_EQ(peer(status, id)["paths"], 2);
    }
    EXPECT_EQ(status["events"]["NODE_UP"], 2);
    EXPECT_EQ(status["events"]["total"], 2);
    EXPECT_GT(status["engine"]["beats_sent"].get<int>(), 150);
    EXPECT_EQ(status["engine"]["dropped"].size(), drop_reason_count);
    EXPECT_EQ(status["engine"]["dropped"]["bad_mac"], 0);
    EXPECT_EQ(status["detector"]["path_up"], 4);
    EXPECT_TRUE(status["disk"].is_null());
    EXPECT_EQ(status["control"]["lagged"], 0);
}

TEST(StatusTest, ShowsTheFaultAndTheRecovery) {
    Fixture f;
    f.run_for(500 * nanos_per_ms);
    f.cluster.crash(3);
    f.run_for(200 * nanos_per_ms);
    Json status = f.status();
    for (const Json& path : paths_to(status, 3)) {
        EXPECT_EQ(path["state"], "down") << path;
        EXPECT_GT(path["last_heard_ms_ago"].get<double>(), 150.0) << path;
    }
    for (const Json& path : paths_to(status, 2)) {
        EXPECT_EQ(path["state"], "up") << path;
    }
    EXPECT_EQ(peer(status, 3)["state"], "down");
    EXPECT_EQ(peer(status, 3)["paths_up"], 0);
    EXPECT_EQ(peer(status, 2)["state"], "up");
    EXPECT_EQ(status["events"]["NODE_DOWN"], 1);
    EXPECT_EQ(status["detector"]["path_down"], 2);

    // Node 1's adapter on network 1 fails: its paths are down and the adapter says why.
    f.cluster.resume(3);
    f.cluster.set_adapter(1, 1, false);
    f.run_for(300 * nanos_per_ms);
    status = f.status();
    const Json& adapter = status["networks"][1]["adapters"][0];
    EXPECT_EQ(adapter["state"], "down");
    EXPECT_EQ(adapter["down_by"], Json::array({"link"}));
    EXPECT_EQ(peer(status, 3)["state"], "up");  // back on network 0
    EXPECT_EQ(status["events"]["ADAPTER_DOWN"], 1);

    f.cluster.set_adapter(1, 1, true);
    f.run_for(300 * nanos_per_ms);
    status = f.status();
    EXPECT_EQ(status["networks"][1]["adapters"][0]["state"], "up");
    for (int id : {2, 3}) {
        for (const Json& path : paths_to(status, id)) {
            EXPECT_EQ(path["state"], "up") << path;
        }
    }
}

TEST(StatusTest, StaysWithinItsSizeHint) {
    test::TestCluster cluster(16, 3, NetworkMode::unicast, timing);
    cluster.run_for(200 * nanos_per_ms);
    EventRecord events;
    test::TestCluster::Member& member = cluster.node(1);
    const NodeView view = view_of(member, events);
    std::string out;
    render_status_json(view, cluster.now(), out);
    EXPECT_LT(out.size() * 2, status_size_hint(member.engine->topology())) << out.size();
}

TEST(EventRecordTest, CountsEveryKindAndKeepsTheNewest) {
    EventRecord record(4);
    EXPECT_EQ(record.remembered(), 0U);
    for (int i = 0; i < 6; ++i) {
        record.record(Event{.kind = i % 2 == 0 ? EventKind::node_down : EventKind::node_up,
                            .node = static_cast<NodeId>(i)});
    }
    EXPECT_EQ(record.total(), 6U);
    EXPECT_EQ(record.count(EventKind::node_down), 3U);
    EXPECT_EQ(record.count(EventKind::node_up), 3U);
    EXPECT_EQ(record.count(EventKind::partition), 0U);
    EXPECT_EQ(record.remembered(), 4U);
    // The newest two, oldest first; the newest four when asked for more than are kept.
    EXPECT_EQ(record.recent(2, 0).node, 4U);
    EXPECT_EQ(record.recent(2, 1).node, 5U);
    EXPECT_EQ(record.recent(10, 0).node, 2U);
    EXPECT_EQ(record.recent(10, 3).node, 5U);
}

// ---- metrics ------------------------------------------------------------------------------

// The exposition's lines, checked against the text format 0.0.4: every sample belongs to the
// family announced by the HELP and TYPE lines before it, and families are not repeated.
std::map<std::string, double> parse_exposition(const std::string& text) {
    const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*)");
    const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge))");
    const std::regex sample(
        R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? )"
        R"((-?[0-9.e+-]+|NaN|\+Inf|-Inf))");
    std::map<std::string, double> samples;
    std::set<std::string> families;
    std::string family;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        std::smatch match;
        if (std::regex_match(line, match, help)) {
            family = match[1];
            EXPECT_TRUE(families.insert(family).second) << "family repeated: " << family;
            continue;
        }
        if (std::regex_match(line, match, type)) {
            EXPECT_EQ(match[1], family) << line;
            continue;
        }
        EXPECT_TRUE(std::regex_match(line, match, sample)) << "malformed line: " << line;
        EXPECT_EQ(match[1], family) << line;
        samples[line.substr(0, line.rfind(' '))] = std::stod(match[5]);
    }
    return samples;
}

// One sample's value; a missing one fails the test, naming it.
double sample(const std::map<std::string, double>& samples, const std::string& key) {
    const auto found = samples.find(key);
    if (found == samples.end()) {
        ADD_FAILURE() << "no sample " << key;
        return -1;
    }
    return found->second;
}

TEST(MetricsTest, ExpositionIsWellFormedAndShowsPathStates) {
    Fixture f;
    f.run_for(500 * nanos_per_ms);
    const std::vector<std::string> labels = path_labels(f.view().engine.topology());
    std::string text;
    render_metrics(f.view(), labels, f.cluster.now(), text);
    std::map<std::string, double> samples = parse_exposition(text);
    const std::string to_3 =
        R"({network="net_0",adapter="eth0",peer="3",peer_name="node3",peer_adapter="eth0"})";
    EXPECT_EQ(sample(samples, "hb_path_state" + to_3), 2);  // up
    EXPECT_GT(sample(samples, "hb_path_beats_sent_total" + to_3), 40);
    EXPECT_GT(sample(samples, "hb_path_beats_received_total" + to_3), 40);
    EXPECT_EQ(sample(samples, "hb_path_beats_missed_total" + to_3), 0);
    EXPECT_EQ(sample(samples, "hb_path_loss_ratio" + to_3), 0);
    EXPECT_GE(sample(samples, "hb_path_rtt_seconds" + to_3), 0);  // the fake network has no delay
    EXPECT_EQ(sample(samples, R"(hb_peer_state{peer="3",peer_name="node3"})"), 1);
    EXPECT_EQ(sample(samples, R"(hb_events_total{event="NODE_UP"})"), 2);
    EXPECT_EQ(sample(samples, R"(hb_events_total{event="NODE_DOWN"})"), 0);
    EXPECT_EQ(sample(samples, R"(hb_dropped_total{reason="bad_mac"})"), 0);
    EXPECT_EQ(sample(samples, R"(hb_adapter_up{network="net_1",adapter="eth1"})"), 1);
    EXPECT_EQ(sample(samples, "hb_detector_path_up_total"), 4);
    EXPECT_EQ(samples.count("hb_disk_up"), 0U);
    EXPECT_EQ(sample(samples, "hb_control_lagged_total"), 0);
    const double sent_before = sample(samples, "hb_path_beats_sent_total" + to_3);

    f.cluster.crash(3);
    f.run_for(200 * nanos_per_ms);
    text.clear();
    render_metrics(f.view(), labels, f.cluster.now(), text);
    samples = parse_exposition(text);
    EXPECT_EQ(sample(samples, "hb_path_state" + to_3), 0);  // down
    EXPECT_GT(sample(samples, "hb_path_beats_sent_total" + to_3), sent_before);
    EXPECT_GT(sample(samples, "hb_path_last_heard_seconds" + to_3), 0.15);
    EXPECT_EQ(sample(samples, R"(hb_peer_state{peer="3",peer_name="node3"})"), 2);
    EXPECT_EQ(sample(samples, R"(hb_events_total{event="NODE_DOWN"})"), 1);
}

TEST(MetricsTest, LabelValuesAreEscaped) {
    test::TestCluster cluster(2, 1, NetworkMode::unicast, timing);
    ClusterConfig config = test::make_cluster_config(2, 1, NetworkMode::unicast, timing);
    config.local_node = 1;
    config.nodes[1].name = "odd \"name\"\\\n";
    const Topology topology(config);
    const std::vector<std::string> labels = path_labels(topology);
    ASSERT_EQ(labels.size(), 1U);
    EXPECT_NE(labels[0].find(R"(peer_name="odd \"name\"\\\n")"), std::string::npos) << labels[0];
}

TEST(MetricsTest, HttpRequestParsing) {
    EXPECT_EQ(parse_http_request(""), HttpRequest::incomplete);
    EXPECT_EQ(parse_http_request("GET /metrics HTTP/1.1\r\nHost: x\r\n"), HttpRequest::incomplete);
    EXPECT_EQ(parse_http_request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), HttpRequest::metrics);
    EXPECT_EQ(parse_http_request("GET /metrics?name[]=x HTTP/1.0\r\n\r\n"), HttpRequest::metrics);
    EXPECT_EQ(parse_http_request("GET / HTTP/1.1\r\n\r\n"), HttpRequest::not_found);
    EXPECT_EQ(parse_http_request("GET /metricsx HTTP/1.1\r\n\r\n"), HttpRequest::not_found);
    EXPECT_EQ(parse_http_request("POST /metrics HTTP/1.1\r\n\r\n"), HttpRequest::bad_method);
    EXPECT_EQ(parse_http_request("HEAD /metrics HTTP/1.1\r\n\r\n"), HttpRequest::bad_method);
    EXPECT_EQ(parse_http_request("hello\r\n\r\n"), HttpRequest::bad_request);
    EXPECT_EQ(parse_http_request("GET /metrics\r\n\r\n"), HttpRequest::bad_request);
    EXPECT_EQ(parse_http_request("GET /metrics SPDY/3\r\n\r\n"), HttpRequest::bad_request);
}

// ---- hbctl's table --------------------------------------------------------------------------

TEST(StatusTableTest, LaysOutPathsAndPeersWithTheirStates) {
    Fixture f;
    f.run_for(500 * nanos_per_ms);
    f.cluster.crash(3);
    f.run_for(200 * nanos_per_ms);
    std::string json;
    render_status_json(f.view(), f.cluster.now(), json);
    const std::string table = hbctl::render_status_table(json);
    EXPECT_NE(table.find("Node node1 (1) of cluster 7"), std::string::npos) << table;
    EXPECT_NE(table.find("Network net_0 (unicast, 10.000 ms x 3, up_count 2): up"),
              std::string::npos)
        << table;
    EXPECT_NE(table.find("Adapter eth0 198.18.1.1 (udp): up"), std::string::npos) << table;
    // A path row: peer, adapter, address, state; a peer row: name, state, paths up.
    EXPECT_TRUE(std::regex_search(table, std::regex(R"(node3 \(3\) +eth0 +198\.18\.1\.3 +down )")))
        << table;
    EXPECT_TRUE(std::regex_search(table, std::regex(R"(node2 \(2\) +eth1 +198\.18\.2\.2 +up )")))
        << table;
    EXPECT_TRUE(std::regex_search(table, std::regex(R"(node3 \(3\) +down +0/2 )"))) << table;
    EXPECT_TRUE(std::regex_search(table, std::regex(R"(node2 \(2\) +up +2/2 )"))) << table;
    EXPECT_NE(table.find("Events: 3 in all; NODE_UP 2, NODE_DOWN 1\n"), std::string::npos) << table;
}

TEST(StatusTableTest, SaysWhatIsWrongWithAReplyThatIsNoStatus) {
    EXPECT_EQ(hbctl::render_status_table("nonsense"), "error: hbd's reply is not a JSON object\n");
    EXPECT_EQ(hbctl::render_status_table(R"({"error":"bad request: x"})"),
              "error: hbd answered: bad request: x\n");
    EXPECT_EQ(hbctl::render_status_table(R"({"node":1})"), "error: hbd's reply is not a status\n");
    // Fields of another version are shown as "-" rather than crashing.
    EXPECT_NE(
        hbctl::render_status_table(R"({"node":{},"networks":[{"adapters":[{}]}],"peers":[{}]})")
            .find("Network -"),
        std::string::npos);
}

}  // namespace
}  // namespace hb::hbd

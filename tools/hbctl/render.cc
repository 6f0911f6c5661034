// Lays out hbd's status JSON as tables.
#include "tools/hbctl/render.hh"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <iterator>

namespace hb::hbctl {

namespace {

// Ordered: hbd's field order (counters by drop reason, events by kind) is kept.
using Json = nlohmann::ordered_json;
using Out = std::back_insert_iterator<std::string>;

// A member of an object, or null when it has none (a reply from another version of hbd).
const Json& at(const Json& object, const char* key) {
    static const Json missing;
    if (!object.is_object()) {
        return missing;
    }
    const auto found = object.find(key);
    return found == object.end() ? missing : *found;
}

// A value as text: strings bare, numbers as JSON writes them, null as "-".
std::string text(const Json& value) {
    if (value.is_null()) {
        return "-";
    }
    if (value.is_string()) {
        return value.get<std::string>();
    }
    return value.dump();
}

double number(const Json& value) {
    return value.is_number() ? value.get<double>() : 0.0;
}

std::string milliseconds(const Json& value) {
    if (!value.is_number()) {
        return "-";
    }
    return fmt::format("{:.3f}", value.get<double>());
}

// "a 1, b 2" of an object's non-zero counts (all of them when `all`).
std::string counts(const Json& object, bool all = false) {
    std::string out;
    for (const auto& [key, value] : object.items()) {
        if (!value.is_number() || key == "total" || (!all && value.get<double>() == 0)) {
            continue;
        }
        out += out.empty() ? "" : ", ";
        out += key + " " + value.dump();
    }
    return out.empty() ? "none" : out;
}

void render_paths(std::string& out, const Json& paths) {
    fmt::format_to(Out(out),
                   "    {:<16} {:<10} {:<15} {:<5} {:>10} {:>10} {:>7} {:>7} {:>9} {:>9} {:>11}\n",
                   "Peer", "Adapter", "Address", "State", "Sent", "Received", "Missed", "Loss%",
                   "RTT ms", "RTT avg", "Heard ms");
    for (const Json& path : paths) {
        const std::string peer =
            fmt::format("{} ({})", text(at(path, "peer_name")), text(at(path, "peer")));
        fmt::format_to(Out(out),
                       "    {:<16} {:<10} {:<15} {:<5} {:>10} {:>10} {:>7} {:>7.2f} {:>9} {:>9} "
                       "{:>11}\n",
                       peer, text(at(path, "peer_adapter")), text(at(path, "peer_address")),
                       text(at(path, "state")), text(at(path, "sent")), text(at(path, "received")),
                       text(at(path, "missed")), number(at(path, "loss_pct")),
                       milliseconds(at(path, "rtt_last_ms")), milliseconds(at(path, "rtt_avg_ms")),
                       milliseconds(at(path, "last_heard_ms_ago")));
    }
}

void render_networks(std::string& out, const Json& networks) {
    for (const Json& network : networks) {
        fmt::format_to(Out(out), "\nNetwork {} ({}, {} ms x {}, up_count {}): {}\n",
                       text(at(network, "name")), text(at(network, "mode")),
                       milliseconds(at(network, "interval_ms")), text(at(network, "multiplier")),
                       text(at(network, "up_count")), text(at(network, "state")));
        for (const Json& adapter : at(network, "adapters")) {
            std::string health;
            for (const Json& source : at(adapter, "health")) {
                health += (health.empty() ? "" : ", ") + text(source);
            }
            std::string down_by;
            for (const Json& source : at(adapter, "down_by")) {
                down_by += (down_by.empty() ? "" : ", ") + text(source);
            }
            fmt::format_to(Out(out), "  Adapter {} {} ({}): {}{}  health: {}\n",
                           text(at(adapter, "ifname")), text(at(adapter, "address")),
                           text(at(adapter, "transport")), text(at(adapter, "state")),
                           down_by.empty() ? "" : " (down by " + down_by + ")",
                           health.empty() ? "paths only" : health);
            render_paths(out, at(adapter, "paths"));
        }
    }
}

void render_peers(std::string& out, const Json& peers) {
    fmt::format_to(Out(out), "\nPeers\n  {:<16} {:<12} {:>9} {:>11}\n", "Node", "State", "Paths up",
                   "Heard ms");
    for (const Json& peer : peers) {
        fmt::format_to(Out(out), "  {:<16} {:<12} {:>9} {:>11}\n",
                       fmt::format("{} ({})", text(at(peer, "name")), text(at(peer, "id"))),
                       text(at(peer, "state")),
                       fmt::format("{}/{}", text(at(peer, "paths_up")), text(at(peer, "paths"))),
                       milliseconds(at(peer, "last_heard_ms_ago")));
    }
}

void render_counters(std::string& out, const Json& status) {
    const Json& engine = at(status, "engine");
    fmt::format_to(Out(out),
                   "\nEngine: beats sent {} (failed {}), accepted {}, dropped {}, pings answered "
                   "{}, peer restarts {}, local stalls {}, events {} (lost {})\n",
                   text(at(engine, "beats_sent")), text(at(engine, "send_failures")),
                   text(at(engine, "beats_accepted")), text(at(engine, "dropped_total")),
                   text(at(engine, "pings_answered")), text(at(engine, "restarts_seen")),
                   text(at(engine, "local_stalls")), text(at(engine, "events_emitted")),
                   text(at(engine, "events_lost")));
    fmt::format_to(Out(out), "Dropped by reason: {}\n", counts(at(engine, "dropped")));
    fmt::format_to(Out(out), "Detector: {}\n", counts(at(status, "detector"), true));
    fmt::format_to(Out(out), "Events: {} in all; {}\n", text(at(at(status, "events"), "total")),
                   counts(at(status, "events")));
    if (status.contains("control")) {
        fmt::format_to(Out(out), "Control socket: {}\n", counts(at(status, "control"), true));
    }
    const Json& disk = at(status, "disk");
    if (disk.is_object()) {
        fmt::format_to(Out(out), "Disk: {}, io {}, {} ms (timeout {} ms); {}\n",
                       text(at(disk, "state")), text(at(disk, "io")),
                       milliseconds(at(disk, "interval_ms")), milliseconds(at(disk, "timeout_ms")),
                       counts(disk));
    } else {
        out += "Disk: none\n";
    }
}

}  // namespace

std::string render_status_table(std::string_view status_json) {
    const Json status = Json::parse(status_json, nullptr, false);
    if (status.is_discarded() || !status.is_object()) {
        return "error: hbd's reply is not a JSON object\n";
    }
    if (status.contains("error")) {
        return "error: hbd answered: " + text(at(status, "error")) + "\n";
    }
    if (!status.contains("node") || !status.contains("networks") || !status.contains("peers")) {
        return "error: hbd's reply is not a status\n";
    }
    std::string out;
    const Json& node = at(status, "node");
    fmt::format_to(Out(out),
                   "Node {} ({}) of cluster {}, incarnation {}, up {:.1f} s, hbd {} (pid {})\n"
                   "Authenticated: {}   Isolated: {}\n",
                   text(at(node, "name")), text(at(node, "id")), text(at(status, "cluster")),
                   text(at(node, "incarnation")), number(at(node, "uptime_s")),
                   text(at(status, "version")), text(at(status, "pid")),
                   at(node, "authenticated") == true ? "yes" : "NO (no key_file)",
                   at(node, "isolated") == true ? "YES" : "no");
    render_networks(out, at(status, "networks"));
    render_peers(out, at(status, "peers"));
    render_counters(out, status);
    return out;
}

}  // namespace hb::hbctl

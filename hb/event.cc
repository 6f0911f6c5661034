#include "hb/event.hh"

#include <fmt/format.h>

#include <array>
#include <bit>

namespace hb {

namespace {

constexpr std::array<std::string_view, 20> event_names = {
    "NODE_UP",      "NODE_DOWN",  "NODE_UNREACHABLE",    "NODE_RESTARTED",     "NODE_LEFT",
    "ADAPTER_DOWN", "ADAPTER_UP", "REMOTE_ADAPTER_DOWN", "REMOTE_ADAPTER_UP",  "NETWORK_DOWN",
    "NETWORK_UP",   "ISOLATED",   "ISOLATION_ENDED",     "PARTITION",          "PARTITION_HEALED",
    "DISK_DOWN",    "DISK_UP",    "DISK_SLOT_CORRUPT",   "DISK_SLOT_CONFLICT", "DEADMAN",
};
static_assert(event_names.size() == event_kind_count);

constexpr std::array<std::string_view, 9> evidence_names = {
    "paths", "incarnation", "leaving", "link", "netmon", "report", "inference", "disk", "inbound",
};

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
    out.push_back('"');
    for (const char c : text) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
                } else {
                    out.push_back(c);
                }
        }
    }
    out.push_back('"');
}

std::string_view event_name(EventKind kind) noexcept {
    const auto index = static_cast<std::size_t>(kind);
    return index < event_names.size() ? event_names[index] : std::string_view{"UNKNOWN"};
}

std::string_view evidence_name(std::uint32_t bit) noexcept {
    if (!std::has_single_bit(bit)) {
        return "unknown";
    }
    const auto index = static_cast<std::size_t>(std::countr_zero(bit));
    return index < evidence_names.size() ? evidence_names[index] : std::string_view{"unknown"};
}

std::string event_to_json(const Event& event, const ClusterConfig& config) {
    std::string out =
        fmt::format(R"({{"t_ns":{},"event":"{}","node":)", event.t_ns, event_name(event.kind));
    const NodeConfig* node = event.node == 0 ? nullptr : config.find_node(event.node);
    if (event.node == 0) {
        out += "null";
    } else {
        out += fmt::format("{}", event.node);
    }
    out += R"(,"name":)";
    if (node != nullptr) {
        append_json_string(out, node->name);
    } else {
        out += "null";
    }
    out += R"(,"network":)";
    if (event.network >= 0 && static_cast<std::size_t>(event.network) < config.networks.size()) {
        append_json_string(out, config.networks[static_cast<std::size_t>(event.network)].name);
    } else {
        out += "null";
    }
    // Adapters are named by interface; an adapter event about no peer is about a local adapter.
    out += R"(,"adapter":)";
    const NodeConfig* owner = node != nullptr ? node : config.find_node(config.local_node);
    if (event.adapter >= 0 && owner != nullptr &&
        static_cast<std::size_t>(event.adapter) < owner->adapters.size()) {
        append_json_string(out, owner->adapters[static_cast<std::size_t>(event.adapter)].ifname);
    } else {
        out += "null";
    }
    out += fmt::format(R"(,"latency_ms":{:.3f},"evidence":[)",
                       static_cast<double>(event.latency_ns) / 1e6);
    bool first = true;
    for (std::uint32_t bits = event.evidence; bits != 0; bits &= bits - 1) {
        const std::uint32_t bit = bits & (~bits + 1);
        out += first ? "" : ",";
        first = false;
        append_json_string(out, evidence_name(bit));
    }
    out += "]}";
    return out;
}

}  // namespace hb

// Verdicts the detector hands to the embedder (DESIGN §6): what happened, to whom, when it was
// decided and on what evidence.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "hb/clock.hh"
#include "hb/model.hh"

namespace hb {

enum class EventKind : std::uint8_t {
    node_up,
    node_down,
    node_unreachable,
    node_restarted,
    node_left,
    adapter_down,
    adapter_up,
    remote_adapter_down,
    remote_adapter_up,
    network_down,
    network_up,
    isolated,
    isolation_ended,
    partition,
    partition_healed,
    disk_down,
    disk_up,
    disk_slot_corrupt,
    disk_slot_conflict,
    // The local node's own engine loop stalled past its deadman timeout (hbd's [deadman]): the
    // node stopped beating so that peers judge it down. Not a detector verdict.
    deadman,
};

inline constexpr std::size_t event_kind_count = static_cast<std::size_t>(EventKind::deadman) + 1;

// Upper-case names of section 6 ("NODE_DOWN").
std::string_view event_name(EventKind kind) noexcept;

// What a verdict rests on; a bit set.
namespace evidence {
inline constexpr std::uint32_t paths = 1U << 0;  // beats stopped (or resumed) on paths
inline constexpr std::uint32_t incarnation = 1U << 1;
inline constexpr std::uint32_t leaving = 1U << 2;  // the peer said it is leaving
inline constexpr std::uint32_t link = 1U << 3;
inline constexpr std::uint32_t netmon = 1U << 4;
inline constexpr std::uint32_t report = 1U << 5;     // the peer's own adapter-state report
inline constexpr std::uint32_t inference = 1U << 6;  // the class rests on inference alone
inline constexpr std::uint32_t disk = 1U << 7;
inline constexpr std::uint32_t inbound = 1U << 8;
}  // namespace evidence

// Names of the bits set in an evidence mask, in bit order ("paths", "disk" ...).
std::string_view evidence_name(std::uint32_t bit) noexcept;

inline constexpr std::int32_t no_network = -1;
inline constexpr std::int32_t no_adapter = -1;

struct Event {
    EventKind kind = EventKind::node_up;
    NodeId node = 0;  // 0: not about a node
    std::int32_t network = no_network;
    std::int32_t adapter = no_adapter;
    Nanos t_ns = 0;        // monotonic time the verdict was decided
    Nanos latency_ns = 0;  // decision time minus the last beat heard on the evidence
    std::uint32_t evidence = 0;
};

// One JSON object (no newline), the event stream's line format (DESIGN §9). Network names come
// from the config; the topology is only used for names.
std::string event_to_json(const Event& event, const ClusterConfig& config);
// Appends `text` as a JSON string (quoted, with control characters escaped).
void append_json_string(std::string& out, std::string_view text);

}  // namespace hb

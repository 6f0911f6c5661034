// The engine: owns every piece of mutable heartbeat state for one node. It sends beats on timers,
// validates and records what arrives, and asks the detector for verdicts in tick(now). One thread
// drives it (poll() inline, or a runner that feeds it from receive threads); nothing on the beat
// path allocates or locks once start() has returned.
#pragma once

#include <boost/lockfree/spsc_queue.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hb/detector.hh"
#include "hb/path_tracker.hh"
#include "hb/timer_wheel.hh"
#include "hb/topology.hh"
#include "hb/transport.hh"
#include "hb/wire.hh"

namespace hb {

// Why a received datagram was dropped. Every reason has its own counter.
enum class DropReason : std::uint8_t {
    oversize,   // longer than wire::max_datagram
    truncated,  // the decoder's reasons, in wire::DecodeError order
    bad_magic,
    bad_version,
    bad_length,
    bad_kind,
    bad_field,
    other_cluster,
    bad_mac,
    unknown_key,       // signed with a key id no accepted key has (a rollover step missed)
    unsupported_kind,  // a valid header of a kind this engine does not serve
    own_beat,          // our own multicast beat looped back
    not_for_us,        // addressed to another node or adapter
    unknown_node,
    wrong_network,      // the sender's network is not the receiving adapter's
    unknown_adapter,    // the sender's adapter is not on this network in the config
    wrong_address,      // the source address is not the configured one of that adapter
    stale_incarnation,  // from the peer's previous life, still in flight
    stale_seq,          // older than the replay window
    duplicate,
    count,
};
inline constexpr std::size_t drop_reason_count = static_cast<std::size_t>(DropReason::count);
std::string_view drop_reason_name(DropReason reason) noexcept;

struct EngineCounters {
    std::array<std::uint64_t, drop_reason_count> dropped{};
    // The source of the latest datagram dropped for each reason, for the operator's log.
    std::array<Ipv4, drop_reason_count> last_dropped_from{};
    std::uint64_t beats_accepted = 0;
    std::uint64_t beats_sent = 0;
    std::uint64_t send_failures = 0;   // beats (and PONGs) a transport did not take
    std::uint64_t pings_answered = 0;  // hbping's PINGs, answered with a PONG (DESIGN §8)
    std::uint64_t restarts_seen = 0;
    std::uint64_t local_stalls = 0;  // ticks that came so late the node must have been stalled
    std::uint64_t events_emitted = 0;
    std::uint64_t events_lost = 0;     // the event queue was full (the consumer fell behind)
    std::uint64_t beats_muted = 0;     // beats (and PONGs) not sent because the node was muted
    std::uint64_t timing_changes = 0;  // timing_changed() calls that changed an adapter's timing

    std::uint64_t dropped_total() const noexcept;
    std::uint64_t dropped_for(DropReason reason) const noexcept {
        return dropped[static_cast<std::size_t>(reason)];
    }
};

struct EngineOptions {
    std::uint32_t incarnation = 0;  // 0: a random non-zero value
    std::size_t rx_burst = 32;      // datagrams taken from a transport per receive call
    // Receive calls per transport in one poll: enough to drain what queued up while the engine
    // did not run, so verdicts are made on the newest beats; bounded so a flood cannot starve
    // ticks.
    std::size_t max_bursts_per_poll = 16;
    std::size_t event_capacity = 4096;  // events queued for the embedder
    Nanos timer_resolution_ns = 100 * nanos_per_us;
};

class Engine final : private EventSink {
public:
    // The config must be validated and outlive the engine.
    Engine(const ClusterConfig& config, Detector& detector, EngineOptions options = {});
    ~Engine() override;
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    const Topology& topology() const noexcept { return topology_; }

    // The transport of local adapter `local` (Topology::local_adapters order). Not owned.
    void attach_transport(std::uint32_t local, Transport& transport);
    std::span<Transport* const> transports() const noexcept { return transports_; }

    // Arms the beat timers; every local adapter must have a transport. Empty string on success.
    [[nodiscard]] std::string start(Nanos now);
    bool started() const noexcept { return started_; }

    // Single-thread mode: one receive burst from every transport, then tick. True if it did work.
    bool poll(Nanos now) noexcept;

    // Validates and records one received datagram (any thread mode, engine thread only).
    void ingest(std::uint32_t local, const RxRecord& record) noexcept;

    // Sends due beats and lets the detector decide. True if anything was sent or decided.
    bool tick(Nanos now) noexcept;

    // When tick() next has work, or TimerWheel::never.
    Nanos next_deadline() const noexcept;

    // Consumer side of the event queue: safe from one other thread.
    bool next_event(Event& out) noexcept { return events_.pop(out); }

    // The owner of the config changed `config.networks[network].timing` (a reload): beats on that
    // network advertise the new timing at once. When the interval shrinks, they are sent at the
    // new rate at once too; when it grows, the old rate goes on for one old detection time plus
    // an interval, so every peer hears the new, longer timeout before the gaps grow (BFD's poll
    // sequence, RFC 5880 6.8.3): a timing change never expires a healthy path at a peer.
    void timing_changed(NetworkIndex network, Nanos now) noexcept;
    // The send interval in effect on local adapter `local`, and the timing its beats advertise.
    Nanos send_interval_ns(std::uint32_t local) const noexcept {
        return locals_[local].interval_ns;
    }
    const Timing& advertised_timing(std::uint32_t local) const noexcept {
        return locals_[local].advertised;
    }

    // While `*flag` is set, no beat, LEAVING beat or PONG leaves this node (a deadman switch, set
    // by another thread, mutes a node whose loop stalled: peers must judge it dead even if the
    // loop resumes). The flag must outlive the engine; nullptr: never muted.
    void set_mute_flag(const std::atomic<bool>* flag) noexcept { mute_ = flag; }
    bool muted() const noexcept {
        return mute_ != nullptr && mute_->load(std::memory_order_relaxed);
    }

    // Graceful stop: sends `copies` LEAVING beats on every adapter at once, so peers report
    // NODE_LEFT instead of NODE_DOWN. The engine should not be ticked afterwards.
    void leave(Nanos now, std::uint32_t copies = 3) noexcept;

    // Replaces the keys beats are signed with and checked against (a key rollover, on SIGHUP):
    // takes effect with the next beat sent or received. Engine thread only; the set must not be
    // empty when the engine started with keys, nor hold keys when it started without.
    void replace_keys(const KeySet& keys) noexcept;
    const KeySet& keys() const noexcept { return keys_; }

    std::uint32_t incarnation() const noexcept { return incarnation_; }
    const EngineCounters& counters() const noexcept { return counters_; }
    const PathTracker& tracker(PathIndex path) const noexcept { return paths_[path].tracker; }
    // Beats built for a path's peer adapter (taken by the transport or counted in
    // send_failures): the path's own sequence on unicast; on multicast the group's, since one
    // datagram serves every path of the adapter, so each path shows the adapter's count.
    std::uint64_t beats_sent_on(PathIndex path) const noexcept;
    PathState path_state(PathIndex path) const noexcept { return detector_.path_state(path); }

private:
    struct PathRuntime {
        PathTracker tracker;
        std::uint64_t tx_seq = 0;    // unicast: our sequence on this path
        std::uint64_t echo_seq = 0;  // the newest beat heard on this path, to echo back
        std::uint64_t echo_tx_time_ns = 0;
        Nanos echo_rx_ns = 0;
    };
    struct LocalRuntime {
        Timer tx_timer;
        Transport* transport = nullptr;
        std::uint64_t tx_seq = 0;       // multicast: one sequence for the whole group
        std::uint32_t echo_cursor = 0;  // multicast: the next path whose beat we echo
        Nanos interval_ns = 0;          // the send interval in effect
        Timing advertised;  // what its beats advertise: the config's timing of its network
        // A longer interval waiting for peers to learn it (timing_changed); 0: none.
        Nanos pending_interval_ns = 0;
        Nanos pending_at_ns = 0;
        Nanos hears_us_window_ns = 0;    // how old an echo of ours may be to prove two-way
        std::vector<TxRecord> tx_batch;  // sized at start: one record per path
        std::uint64_t pongs_sent = 0;    // the sequence of this adapter's PONGs
    };
    struct PeerRuntime {
        // Incarnations the peer had before the current one, newest first: a beat from any of
        // them is a late arrival or a replay of an earlier life, never a restart.
        static constexpr std::size_t history = 8;
        std::uint32_t incarnation = 0;
        std::array<std::uint32_t, history> previous{};

        bool was_previous(std::uint32_t value) const noexcept;
    };

    void emit(const Event& event) noexcept override;
    void send_beats(std::uint32_t local, Nanos now, std::uint16_t flags) noexcept;
    void answer_ping(std::uint32_t local, const wire::Beat& ping, const RxRecord& record) noexcept;
    void fill_beat(wire::Beat& beat, std::uint32_t local, Nanos now, std::uint16_t flags) const;
    void set_echo(wire::Beat& beat, PathIndex path, Nanos now) const noexcept;
    static void clear_echo(wire::Beat& beat) noexcept;
    std::size_t encode_into(const wire::Beat& beat, TxRecord& record) const noexcept;
    void drop(DropReason reason, Ipv4 from) noexcept {
        ++counters_.dropped[static_cast<std::size_t>(reason)];
        counters_.last_dropped_from[static_cast<std::size_t>(reason)] = from;
    }
    void restart_peer(PeerIndex peer, std::uint32_t incarnation, Nanos rx_ns) noexcept;
    // The time to the next beat on an adapter: 75 to 90 % of the advertised interval (BFD's
    // rule, RFC 5880 6.8.7), so that a beat after k-1 losses still arrives before the receiver's
    // interval x k, whatever the jitter, and so that nodes do not send in lockstep.
    Nanos next_send_in(Nanos interval_ns) noexcept;
    // The stall threshold and each adapter's two-way window, from the timings in effect.
    void derive_windows() noexcept;

    const ClusterConfig& config_;
    KeySet keys_;  // config_.keys until a rollover replaces them
    Topology topology_;
    Detector& detector_;
    EngineOptions options_;
    std::uint32_t incarnation_;
    bool started_ = false;
    // A beat timer this late means the engine itself did not run: half the shortest local
    // detection window, so a stall is caught before it could expire a path falsely.
    Nanos stall_threshold_ns_ = 0;
    std::uint64_t jitter_state_;  // xorshift64 state for the send jitter, seeded per engine
    const std::atomic<bool>* mute_ = nullptr;

    TimerWheel wheel_;
    std::vector<LocalRuntime> locals_;
    TxRecord pong_record_;  // the one PONG in flight: answered and sent inside ingest()
    std::vector<Transport*> transports_;
    std::vector<PathRuntime> paths_;
    std::vector<PeerRuntime> peers_;
    std::vector<RxRecord> rx_burst_;
    boost::lockfree::spsc_queue<Event> events_;
    EngineCounters counters_;
};

// A random non-zero incarnation (getrandom).
std::uint32_t random_incarnation() noexcept;

}  // namespace hb

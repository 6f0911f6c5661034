// The C API (hb/hb.h) over hb::Node. Every entry point catches everything: a C caller gets a
// return code and a message, never an exception or a crash for a misuse it could have avoided.
#include "hb/hb.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <thread>

#include "build_config.hh"
#include "hb/node.hh"

struct hb_node {
    std::unique_ptr<hb::Node> node;
    std::string last_error;  // engine-thread calls only: hb_read_stats never writes it
};

namespace {

// Every C kind is the C++ kind of the same name.
constexpr bool same_kind(hb_event_kind c, hb::EventKind cpp) {
    return static_cast<int>(c) == static_cast<int>(cpp);
}
static_assert(same_kind(HB_NODE_UP, hb::EventKind::node_up));
static_assert(same_kind(HB_NODE_DOWN, hb::EventKind::node_down));
static_assert(same_kind(HB_NODE_UNREACHABLE, hb::EventKind::node_unreachable));
static_assert(same_kind(HB_NODE_RESTARTED, hb::EventKind::node_restarted));
static_assert(same_kind(HB_NODE_LEFT, hb::EventKind::node_left));
static_assert(same_kind(HB_ADAPTER_DOWN, hb::EventKind::adapter_down));
static_assert(same_kind(HB_ADAPTER_UP, hb::EventKind::adapter_up));
static_assert(same_kind(HB_REMOTE_ADAPTER_DOWN, hb::EventKind::remote_adapter_down));
static_assert(same_kind(HB_REMOTE_ADAPTER_UP, hb::EventKind::remote_adapter_up));
static_assert(same_kind(HB_NETWORK_DOWN, hb::EventKind::network_down));
static_assert(same_kind(HB_NETWORK_UP, hb::EventKind::network_up));
static_assert(same_kind(HB_ISOLATED, hb::EventKind::isolated));
static_assert(same_kind(HB_ISOLATION_ENDED, hb::EventKind::isolation_ended));
static_assert(same_kind(HB_PARTITION, hb::EventKind::partition));
static_assert(same_kind(HB_PARTITION_HEALED, hb::EventKind::partition_healed));
static_assert(same_kind(HB_DISK_DOWN, hb::EventKind::disk_down));
static_assert(same_kind(HB_DISK_UP, hb::EventKind::disk_up));
static_assert(same_kind(HB_DISK_SLOT_CORRUPT, hb::EventKind::disk_slot_corrupt));
static_assert(same_kind(HB_DISK_SLOT_CONFLICT, hb::EventKind::disk_slot_conflict));
static_assert(HB_EVIDENCE_PATHS == hb::evidence::paths && HB_EVIDENCE_DISK == hb::evidence::disk &&
              HB_EVIDENCE_INBOUND == hb::evidence::inbound &&
              HB_EVIDENCE_INFERENCE == hb::evidence::inference);
static_assert(static_cast<int>(HB_PATH_UP) == static_cast<int>(hb::PathStats::State::up) &&
              static_cast<int>(HB_PATH_INIT) == static_cast<int>(hb::PathStats::State::init) &&
              static_cast<int>(HB_PATH_DOWN) == static_cast<int>(hb::PathStats::State::down));

// Copies text into a C buffer of `size` bytes, cut short if needed, always NUL-terminated.
void copy_text(char* out, std::size_t size, std::string_view text) noexcept {
    if (out == nullptr || size == 0) {
        return;
    }
    const std::size_t length = std::min(text.size(), size - 1);
    if (length != 0) {  // an empty view may have no data at all, which memcpy must not see
        std::memcpy(out, text.data(), length);
    }
    out[length] = '\0';
}

std::string current_exception_message() {
    try {
        throw;
    } catch (const std::exception& error) {
        return error.what();
    } catch (...) {
        return "unknown exception";
    }
}

// Runs `body` (which returns a code); turns any exception into HB_ERR_INTERNAL with its message.
template <typename Body>
int guarded(hb_node* node, Body&& body) noexcept {
    if (node == nullptr) {
        return HB_ERR_ARGUMENT;
    }
    try {
        node->last_error.clear();
        return body(*node);
    } catch (...) {
        try {
            node->last_error = "internal error: " + current_exception_message();
        } catch (...) {
            // Out of memory even for the message: the code says enough.
        }
        return HB_ERR_INTERNAL;
    }
}

int fail(hb_node& node, int code, std::string message) {
    node.last_error = std::move(message);
    return code;
}

hb_node* create(hb::Node::Created created, char* err_buf, std::size_t err_len) {
    if (auto* error = std::get_if<std::string>(&created)) {
        copy_text(err_buf, err_len, *error);
        return nullptr;
    }
    auto handle = std::make_unique<hb_node>();
    handle->node = std::move(std::get<std::unique_ptr<hb::Node>>(created));
    return handle.release();
}

// Which code a creation message deserves is not known from the message; the create functions
// only return NULL, so the message is all the caller needs.
template <typename Make>
hb_node* create_guarded(char* err_buf, std::size_t err_len, Make&& make) noexcept {
    copy_text(err_buf, err_len, "");
    try {
        return create(make(), err_buf, err_len);
    } catch (...) {
        try {
            copy_text(err_buf, err_len, "internal error: " + current_exception_message());
        } catch (...) {
            copy_text(err_buf, err_len, "internal error");
        }
        return nullptr;
    }
}

}  // namespace

extern "C" {

const char* hb_version(void) {
    return HB_VERSION;
}

hb_node* hb_create_from_file(const char* path, char* err_buf, size_t err_len) {
    if (path == nullptr) {
        copy_text(err_buf, err_len, "hb_create_from_file: path is NULL");
        return nullptr;
    }
    return create_guarded(err_buf, err_len, [&] { return hb::Node::from_file(path); });
}

hb_node* hb_create_from_string(const char* toml, const char* base_dir, char* err_buf,
                               size_t err_len) {
    if (toml == nullptr) {
        copy_text(err_buf, err_len, "hb_create_from_string: toml is NULL");
        return nullptr;
    }
    return create_guarded(err_buf, err_len, [&] {
        return hb::Node::from_string(toml, base_dir == nullptr ? "." : base_dir);
    });
}

void hb_destroy(hb_node* node) {
    if (node == nullptr) {
        return;
    }
    try {
        if (node->node->started() && !node->node->stopped()) {
            node->node->stop();
        }
    } catch (...) {
        // Freeing must not fail: the peers will report NODE_DOWN instead of NODE_LEFT.
    }
    delete node;
}

const char* hb_last_error(const hb_node* node) {
    return node == nullptr ? "null hb_node" : node->last_error.c_str();
}

size_t hb_warning_count(const hb_node* node) {
    return node == nullptr ? 0 : node->node->warnings().size();
}

const char* hb_warning(const hb_node* node, size_t index) {
    if (node == nullptr || index >= node->node->warnings().size()) {
        return nullptr;
    }
    return node->node->warnings()[index].c_str();
}

int hb_start(hb_node* node) {
    return guarded(node, [](hb_node& h) -> int {
        if (h.node->started()) {
            return fail(h, HB_ERR_STATE, "hb_start: the node was already started");
        }
        // After a failed start it fails again, saying why: create the node anew.
        if (std::string error = h.node->start(); !error.empty()) {
            return fail(h, HB_ERR_SYSTEM, std::move(error));
        }
        return HB_OK;
    });
}

int hb_poll(hb_node* node, int timeout_ms) {
    return guarded(node, [timeout_ms](hb_node& h) -> int {
        if (!h.node->started() || h.node->stopped()) {
            return fail(h, HB_ERR_STATE, "hb_poll: the node is not running (hb_start first)");
        }
        if (timeout_ms < 0) {
            return fail(h, HB_ERR_ARGUMENT, "hb_poll: timeout_ms is negative");
        }
        return h.node->poll(static_cast<hb::Nanos>(timeout_ms) * hb::nanos_per_ms) ? 1 : 0;
    });
}

int hb_next_event(hb_node* node, hb_event* event) {
    return guarded(node, [event](hb_node& h) -> int {
        if (event == nullptr) {
            return fail(h, HB_ERR_ARGUMENT, "hb_next_event: event is NULL");
        }
        hb::Event next;
        if (!h.node->next_event(next)) {
            return 0;
        }
        event->kind = static_cast<hb_event_kind>(next.kind);
        event->name = hb::event_name(next.kind).data();  // a NUL-terminated literal
        event->node = next.node;
        copy_text(event->node_name, sizeof event->node_name, h.node->node_name(next.node));
        event->network = next.network;
        copy_text(event->network_name, sizeof event->network_name,
                  h.node->network_name(next.network));
        event->adapter = next.adapter;
        copy_text(event->adapter_name, sizeof event->adapter_name,
                  h.node->adapter_name(next.node, next.adapter));
        event->evidence = next.evidence;
        event->latency_ns = next.latency_ns;
        event->t_ns = next.t_ns;
        return 1;
    });
}

int hb_run(hb_node* node) {
    return guarded(node, [](hb_node& h) -> int {
        if (!h.node->started() || h.node->stopped()) {
            return fail(h, HB_ERR_STATE, "hb_run: the node is not running (hb_start first)");
        }
        h.node->run();
        return HB_OK;
    });
}

void hb_request_stop(hb_node* node) {
    if (node != nullptr) {
        node->node->request_stop();
    }
}

int hb_stop(hb_node* node) {
    return guarded(node, [](hb_node& h) -> int {
        if (!h.node->started()) {
            return fail(h, HB_ERR_STATE, "hb_stop: the node was never started");
        }
        h.node->stop();
        return HB_OK;
    });
}

int hb_read_stats(const hb_node* node, hb_stats* stats, hb_path_stats* paths, size_t capacity) {
    if (node == nullptr || stats == nullptr || (paths == nullptr && capacity != 0)) {
        return HB_ERR_ARGUMENT;
    }
    try {
        // Each reading thread reuses its own scratch: allocated on its first read only.
        thread_local hb::NodeStats snapshot;
        if (!node->node->read_stats(snapshot)) {
            return HB_ERR_BUSY;
        }
        const hb::EngineStats& engine = snapshot.engine;
        *stats = hb_stats{
            .publication = snapshot.publication,
            .published_ns = snapshot.published_ns,
            .beats_sent = engine.beats_sent,
            .beats_accepted = engine.beats_accepted,
            .send_failures = engine.send_failures,
            .dropped = engine.dropped,
            .pings_answered = engine.pings_answered,
            .restarts_seen = engine.restarts_seen,
            .local_stalls = engine.local_stalls,
            .events_emitted = engine.events_emitted,
            .events_lost = engine.events_lost,
            .path_expiries = engine.path_expiries,
            .path_count = snapshot.paths.size(),
        };
        const std::size_t count = std::min(capacity, snapshot.paths.size());
        for (std::size_t i = 0; i < count; ++i) {
            const hb::PathStats& path = snapshot.paths[i];
            paths[i] = hb_path_stats{
                .peer = path.peer,
                .network = path.network,
                .local_adapter = path.local_adapter,
                .peer_adapter = path.peer_adapter,
                .state = static_cast<hb_path_state>(path.state),
                .beats_sent = path.beats_sent,
                .beats_received = path.beats_received,
                .beats_missed = path.beats_missed,
                .duplicates = path.duplicates,
                .reordered = path.reordered,
                .rtt_last_ns = path.rtt_last_ns,
                .rtt_smoothed_ns = path.rtt_smoothed_ns,
                .rtt_min_ns = path.rtt_min_ns,
                .rtt_max_ns = path.rtt_max_ns,
                .last_heard_ns = path.last_heard_ns,
            };
        }
        return HB_OK;
    } catch (...) {
        return HB_ERR_INTERNAL;  // out of memory for the first read's scratch
    }
}

const char* hb_event_name(hb_event_kind kind) {
    if (static_cast<int>(kind) < HB_NODE_UP || static_cast<int>(kind) > HB_DISK_SLOT_CONFLICT) {
        return "UNKNOWN";  // C lets any int into an enum
    }
    return hb::event_name(static_cast<hb::EventKind>(kind)).data();
}

const char* hb_path_state_name(hb_path_state state) {
    switch (state) {
        case HB_PATH_DOWN:
            return "DOWN";
        case HB_PATH_INIT:
            return "INIT";
        case HB_PATH_UP:
            return "UP";
    }
    return "UNKNOWN";
}

}  // extern "C"

/* The C API of hb (docs/embedding.md): one heartbeat node inside an application, behind an
 * opaque handle. Installed as <hb/hb.h> in libhb; C99, and usable from C++. Every function
 * reports failure as a negative HB_ERR_* code with a message (hb_last_error, or the err_buf of
 * the create functions); no C++ exception ever crosses it. */
#ifndef HB_HB_H
#define HB_HB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes: 0 or more is success; negative is an error. */
enum {
    HB_OK = 0,
    HB_ERR_CONFIG = -1,   /* the configuration is invalid (every error, with its line) */
    HB_ERR_SYSTEM = -2,   /* the node could not be created or started (sockets, disk, ...) */
    HB_ERR_STATE = -3,    /* the call does not fit the node's state (poll before start, ...) */
    HB_ERR_ARGUMENT = -4, /* a null handle or pointer, a too small buffer */
    HB_ERR_BUSY = -5,     /* stats: the engine thread was publishing for the whole read */
    HB_ERR_INTERNAL = -6  /* an unexpected failure (out of memory); the message says what */
};

typedef struct hb_node hb_node; /* opaque */

/* Event kinds: DESIGN section 6. hb_event_name gives the upper-case name ("NODE_DOWN"). */
typedef enum hb_event_kind {
    HB_NODE_UP = 0,
    HB_NODE_DOWN,
    HB_NODE_UNREACHABLE,
    HB_NODE_RESTARTED,
    HB_NODE_LEFT,
    HB_ADAPTER_DOWN,
    HB_ADAPTER_UP,
    HB_REMOTE_ADAPTER_DOWN,
    HB_REMOTE_ADAPTER_UP,
    HB_NETWORK_DOWN,
    HB_NETWORK_UP,
    HB_ISOLATED,
    HB_ISOLATION_ENDED,
    HB_PARTITION,
    HB_PARTITION_HEALED,
    HB_DISK_DOWN,
    HB_DISK_UP,
    HB_DISK_SLOT_CORRUPT,
    HB_DISK_SLOT_CONFLICT
} hb_event_kind;

/* Evidence bits of an event (what the verdict rests on). */
#define HB_EVIDENCE_PATHS (1u << 0)
#define HB_EVIDENCE_INCARNATION (1u << 1)
#define HB_EVIDENCE_LEAVING (1u << 2)
#define HB_EVIDENCE_LINK (1u << 3)
#define HB_EVIDENCE_NETMON (1u << 4)
#define HB_EVIDENCE_REPORT (1u << 5)
#define HB_EVIDENCE_INFERENCE (1u << 6)
#define HB_EVIDENCE_DISK (1u << 7)
#define HB_EVIDENCE_INBOUND (1u << 8)

/* Names longer than this (with the terminating NUL) are cut short. */
#define HB_NAME_MAX 64

typedef struct hb_event {
    hb_event_kind kind;
    const char* name;               /* "NODE_DOWN": static storage, never freed */
    uint32_t node;                  /* 0: not about a node */
    char node_name[HB_NAME_MAX];    /* "" when node is 0 */
    int32_t network;                /* index in the config's networks; -1: none */
    char network_name[HB_NAME_MAX]; /* "" when network is -1 */
    int32_t adapter;                /* index in the node's (or the local node's) adapters; -1 */
    char adapter_name[HB_NAME_MAX]; /* its interface name; "" when adapter is -1 */
    uint32_t evidence;              /* HB_EVIDENCE_* bits */
    int64_t latency_ns;             /* decision time minus the last beat heard on the evidence */
    int64_t t_ns;                   /* CLOCK_MONOTONIC time of the decision */
} hb_event;

typedef enum hb_path_state { HB_PATH_DOWN = 0, HB_PATH_INIT, HB_PATH_UP } hb_path_state;

/* One path (local adapter, peer adapter). Counters only grow. */
typedef struct hb_path_stats {
    uint32_t peer;
    int32_t network;
    int32_t local_adapter;
    int32_t peer_adapter;
    hb_path_state state;
    uint64_t beats_sent;
    uint64_t beats_received;
    uint64_t beats_missed;
    uint64_t duplicates;
    uint64_t reordered;
    int64_t rtt_last_ns; /* 0 until the first echo */
    int64_t rtt_smoothed_ns;
    int64_t rtt_min_ns;
    int64_t rtt_max_ns;
    int64_t last_heard_ns; /* CLOCK_MONOTONIC; 0: never heard */
} hb_path_stats;

/* One consistent publication of the engine thread (every period, and at start and stop). */
typedef struct hb_stats {
    uint64_t publication; /* counts publications; 0: none yet */
    int64_t published_ns;
    uint64_t beats_sent;
    uint64_t beats_accepted;
    uint64_t send_failures;
    uint64_t dropped;
    uint64_t pings_answered;
    uint64_t restarts_seen;
    uint64_t local_stalls;
    uint64_t events_emitted;
    uint64_t events_lost;
    uint64_t path_expiries;
    size_t path_count; /* paths of the node; hb_read_stats fills at most its capacity */
} hb_stats;

/* The library's version, "MAJOR.MINOR.PATCH". */
const char* hb_version(void);

/* A node from a TOML file, or from TOML text whose relative paths (key_file ...) resolve against
 * base_dir (NULL: the current directory). NULL on failure, with the reason (config errors one
 * per line as "path:line: message") in err_buf, cut to err_len bytes, always NUL-terminated. */
hb_node* hb_create_from_file(const char* path, char* err_buf, size_t err_len);
hb_node* hb_create_from_string(const char* toml, const char* base_dir, char* err_buf,
                               size_t err_len);
/* Stops the node gracefully if it still runs, then frees it. NULL is ignored. */
void hb_destroy(hb_node* node);

/* The message of the last failed call on this node ("" when none); valid until the next call. */
const char* hb_last_error(const hb_node* node);
/* How many warnings the configuration gave, and each one (NULL past the end). */
size_t hb_warning_count(const hb_node* node);
const char* hb_warning(const hb_node* node, size_t index);

/* Starts beating. The thread that calls hb_start and then hb_poll or hb_run is the engine
 * thread. */
int hb_start(hb_node* node);
/* Single-thread mode (the default): does one bounded step of the node's work; when there was
 * none, sleeps until there is, at most timeout_ms (0: never sleeps), and steps again. Returns 1
 * if it did work, 0 if not, or a negative error. The sleep also ends when the node has
 * something due (a beat to send, a path to judge), so call it again promptly: work done between
 * polls delays beats. */
int hb_poll(hb_node* node, int timeout_ms);
/* Takes the next event: 1 when one was written to *event, 0 when there is none, or a negative
 * error. From one thread at a time. */
int hb_next_event(hb_node* node, hb_event* event);
/* Runs the node on the calling thread until hb_request_stop; events wait for hb_next_event
 * (called from one other thread). HB_OK or a negative error. */
int hb_run(hb_node* node);
/* Any thread, async-signal-safe: makes hb_run return. */
void hb_request_stop(hb_node* node);
/* Graceful stop on the engine thread (after hb_run returned, or between polls): peers report
 * NODE_LEFT. The node cannot be started again. */
int hb_stop(hb_node* node);

/* Any thread, no lock: the latest statistics, and up to `capacity` paths into `paths` (may be
 * NULL when capacity is 0). HB_OK, HB_ERR_BUSY (try again), or a negative error. */
int hb_read_stats(const hb_node* node, hb_stats* stats, hb_path_stats* paths, size_t capacity);

/* "NODE_DOWN" for HB_NODE_DOWN; "UNKNOWN" for a value that is no kind. */
const char* hb_event_name(hb_event_kind kind);
/* "UP", "INIT", "DOWN". */
const char* hb_path_state_name(hb_path_state state);

#ifdef __cplusplus
}
#endif

#endif /* HB_HB_H */

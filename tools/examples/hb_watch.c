/* hb_watch: the smallest embedder of hb's C API (docs/embedding.md). Runs one node from a config
 * file in single-thread mode and prints each event as a line, then the statistics when stopped
 * (SIGINT or SIGTERM: a graceful stop, so peers report NODE_LEFT). Uses only <hb/hb.h>:
 *
 *     cc -o hb_watch hb_watch.c $(pkg-config --cflags --libs hb)
 *     ./hb_watch /etc/hb/hb.toml
 *
 * Exit codes as every hb tool: 0 stopped cleanly, 1 the node failed while running, 2 usage or
 * configuration error (or the node could not start). */
#define _POSIX_C_SOURCE 200809L

#include <hb/hb.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t stop_requested = 0;

static void on_stop_signal(int signum) {
    (void)signum;
    stop_requested = 1;
}

static const char* or_dash(const char* text) {
    return text[0] != '\0' ? text : "-";
}

static void print_event(const hb_event* event) {
    printf("t_ns=%" PRId64 " event=%s node=%" PRIu32
           " name=%s network=%s adapter=%s"
           " latency_ms=%.3f\n",
           event->t_ns, event->name, event->node, or_dash(event->node_name),
           or_dash(event->network_name), or_dash(event->adapter_name),
           (double)event->latency_ns / 1e6);
}

static int drain_events(hb_node* node) {
    hb_event event;
    int got;
    while ((got = hb_next_event(node, &event)) == 1) {
        print_event(&event);
    }
    fflush(stdout);
    return got;
}

static void print_stats(const hb_node* node) {
    hb_stats stats;
    hb_path_stats paths[64];
    size_t i;
    if (hb_read_stats(node, &stats, paths, sizeof paths / sizeof paths[0]) != HB_OK) {
        fprintf(stderr, "hb_watch: statistics unavailable\n");
        return;
    }
    printf("stats: publication=%" PRIu64 " beats_sent=%" PRIu64 " beats_accepted=%" PRIu64
           " dropped=%" PRIu64 " events=%" PRIu64 " paths=%zu\n",
           stats.publication, stats.beats_sent, stats.beats_accepted, stats.dropped,
           stats.events_emitted, stats.path_count);
    for (i = 0; i < stats.path_count && i < sizeof paths / sizeof paths[0]; ++i) {
        const hb_path_stats* path = &paths[i];
        printf("path: peer=%" PRIu32 " network=%" PRId32 " state=%s sent=%" PRIu64
               " received=%" PRIu64 " missed=%" PRIu64 " rtt_ms=%.3f\n",
               path->peer, path->network, hb_path_state_name(path->state), path->beats_sent,
               path->beats_received, path->beats_missed, (double)path->rtt_smoothed_ns / 1e6);
    }
    fflush(stdout);
}

int main(int argc, char** argv) {
    char error[4096];
    hb_node* node;
    struct sigaction action;
    size_t i;
    int exit_code = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CONFIG.toml   (hb %s)\n", argv[0], hb_version());
        return 2;
    }
    node = hb_create_from_file(argv[1], error, sizeof error);
    if (node == NULL) {
        fprintf(stderr, "%s\n", error);
        return 2;
    }
    for (i = 0; i < hb_warning_count(node); ++i) {
        fprintf(stderr, "hb_watch: warning: %s\n", hb_warning(node, i));
    }
    memset(&action, 0, sizeof action);
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);

    if (hb_start(node) != HB_OK) {
        fprintf(stderr, "hb_watch: %s\n", hb_last_error(node));
        hb_destroy(node);
        return 2;
    }
    fprintf(stderr, "hb_watch: hb %s started\n", hb_version());
    while (!stop_requested) {
        /* Sleeps at most 100 ms when idle, so a stop signal is seen quickly. */
        if (hb_poll(node, 100) < 0 || drain_events(node) < 0) {
            fprintf(stderr, "hb_watch: %s\n", hb_last_error(node));
            exit_code = 1;
            break;
        }
    }
    if (hb_stop(node) != HB_OK) {
        fprintf(stderr, "hb_watch: %s\n", hb_last_error(node));
        exit_code = 1;
    }
    drain_events(node);
    print_stats(node);
    hb_destroy(node);
    return exit_code;
}

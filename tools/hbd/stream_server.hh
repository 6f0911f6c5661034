// A small non-blocking stream server served from the engine thread's loop (a Poller): the control
// socket and the metrics endpoint are two protocols on it. Every client slot and its bounded input
// and output buffers are allocated at start; a poll step handles at most one burst of readiness
// events and never waits, so no client can hold up the engine (docs/operations.md).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hb/clock.hh"
#include "hb/runner.hh"

namespace hb::hbd {

class StreamServer : public Poller {
public:
    struct Limits {
        std::size_t max_clients = 16;
        std::size_t input_bytes = 1024;      // a request longer than this is refused
        std::size_t output_bytes = 65536;    // what may wait to be read by one client
        Nanos idle_timeout_ns = 0;           // a client silent this long is closed; 0: never
        Nanos close_grace_ns = nanos_per_s;  // how long a closing client may take to read the rest
    };

    ~StreamServer() override;
    StreamServer(const StreamServer&) = delete;
    StreamServer& operator=(const StreamServer&) = delete;

    int wait_fd() const noexcept override { return epoll_fd_; }
    bool poll(Nanos now) noexcept override;

    std::size_t client_count() const noexcept { return client_count_; }

protected:
    struct Client {
        int fd = -1;
        std::string input;     // capacity Limits::input_bytes, reserved at start
        std::string output;    // capacity Limits::output_bytes, reserved at start
        std::size_t sent = 0;  // bytes of output already written
        bool closing = false;  // closes once output is written (or at deadline_ns)
        bool shut = false;     // closing, output all written, our side shut down
        bool subscriber = false;
        Nanos deadline_ns = 0;
        Nanos active_ns = 0;  // last read or write
        std::uint32_t interest = 0;

        std::size_t pending() const noexcept { return output.size() - sent; }
    };

    // Takes a listening, non-blocking socket.
    StreamServer(int listen_fd, Limits limits);

    // The protocol: consume complete requests at the front of `client.input`. Called after bytes
    // arrive and after the client's output drained; it may leave input it cannot serve yet.
    virtual void serve(Client& client, Nanos now) noexcept = 0;
    // A connection beyond max_clients, about to be closed: a chance to say why (one write).
    virtual void refuse(int fd) noexcept = 0;
    virtual void closed(Client& client) noexcept { static_cast<void>(client); }

    // Appends to the client's output if it fits within Limits::output_bytes minus `keep_free`;
    // false (nothing appended) when it does not. Writes what it can at once.
    bool send(Client& client, std::string_view bytes, std::size_t keep_free = 0) noexcept;
    // Output space left for `client`.
    std::size_t room(const Client& client) const noexcept;
    // Lets the client read what it was sent, then closes it (at most Limits::close_grace_ns).
    void close_after_output(Client& client, Nanos now) noexcept;
    // Re-arms interest after the protocol changed a client directly (e.g. rendered into output).
    void output_changed(Client& client) noexcept;
    std::span<Client> clients() noexcept { return clients_; }
    const Limits& limits() const noexcept { return limits_; }
    Nanos now() const noexcept { return now_; }

    std::uint64_t accepted_ = 0;
    std::uint64_t refused_ = 0;

private:
    void accept_clients(Nanos now) noexcept;
    void read_from(Client& client, Nanos now) noexcept;
    void flush(Client& client) noexcept;
    void after_io(Client& client, Nanos now) noexcept;
    void update_interest(Client& client) noexcept;
    void finish(Client& client) noexcept;
    void close_client(Client& client) noexcept;
    bool expire(Nanos now) noexcept;

    int listen_fd_ = -1;
    int epoll_fd_ = -1;
    Limits limits_;
    std::vector<Client> clients_;
    std::size_t client_count_ = 0;
    Nanos now_ = 0;
    Nanos next_expiry_check_ns_ = 0;
};

}  // namespace hb::hbd

// The non-blocking stream server under the control socket and the metrics endpoint.
#include "tools/hbd/stream_server.hh"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "hb/assert.hh"

namespace hb::hbd {

namespace {

constexpr std::uint32_t listener_tag = UINT32_MAX;
// Readiness events taken per poll step, and connections accepted per step: bounded work.
constexpr int events_per_poll = 16;
constexpr int accepts_per_poll = 4;
constexpr int requests_per_io = 4;
constexpr Nanos expiry_check_period_ns = 100 * nanos_per_ms;

}  // namespace

StreamServer::StreamServer(int listen_fd, Limits limits)
    : listen_fd_(listen_fd),
      epoll_fd_(epoll_create1(EPOLL_CLOEXEC)),
      limits_(limits),
      clients_(limits.max_clients) {
    HB_ASSERT(listen_fd_ >= 0 && epoll_fd_ >= 0);
    HB_ASSERT(limits_.max_clients > 0 && limits_.input_bytes > 0 && limits_.output_bytes > 0);
    for (Client& client : clients_) {
        client.input.reserve(limits_.input_bytes);
        client.output.reserve(limits_.output_bytes);
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u32 = listener_tag;
    HB_ASSERT(epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &event) == 0);
}

StreamServer::~StreamServer() {
    for (Client& client : clients_) {
        if (client.fd >= 0) {
            ::close(client.fd);
        }
    }
    ::close(listen_fd_);
    ::close(epoll_fd_);
}

bool StreamServer::poll(Nanos now) noexcept {
    now_ = now;
    std::array<epoll_event, events_per_poll> ready{};
    const int count = epoll_wait(epoll_fd_, ready.data(), events_per_poll, 0);
    bool did_work = expire(now);
    for (int i = 0; i < count; ++i) {
        did_work = true;
        const std::uint32_t tag = ready[static_cast<std::size_t>(i)].data.u32;
        if (tag == listener_tag) {
            accept_clients(now);
            continue;
        }
        HB_ASSERT(tag < clients_.size());
        Client& client = clients_[tag];
        if (client.fd < 0) {
            continue;  // closed earlier in this step
        }
        const std::uint32_t what = ready[static_cast<std::size_t>(i)].events;
        if ((what & EPOLLOUT) != 0) {
            flush(client);
        }
        if (client.fd >= 0 && (what & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) {
            read_from(client, now);
        }
        if (client.fd >= 0) {
            after_io(client, now);
        }
    }
    return did_work;
}

void StreamServer::accept_clients(Nanos now) noexcept {
    for (int n = 0; n < accepts_per_poll; ++n) {
        const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;  // EAGAIN, or a connection that went away before it was accepted
        }
        Client* slot = nullptr;
        for (std::size_t i = 0; i < clients_.size() && slot == nullptr; ++i) {
            if (clients_[i].fd < 0) {
                slot = &clients_[i];
            }
        }
        if (slot == nullptr) {
            ++refused_;
            refuse(fd);
            ::close(fd);
            continue;
        }
        ++accepted_;
        ++client_count_;
        slot->fd = fd;
        slot->input.clear();
        slot->output.clear();
        slot->sent = 0;
        slot->closing = false;
        slot->shut = false;
        slot->subscriber = false;
        slot->deadline_ns = 0;
        slot->active_ns = now;
        slot->interest = EPOLLIN;
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.u32 = static_cast<std::uint32_t>(slot - clients_.data());
        HB_ASSERT(epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) == 0);
    }
}

void StreamServer::read_from(Client& client, Nanos now) noexcept {
    const std::size_t free = limits_.input_bytes - client.input.size();
    if (free == 0) {
        return;  // interest in input is off until the protocol consumes some
    }
    std::array<char, 4096> chunk{};
    const ssize_t count = ::read(client.fd, chunk.data(), std::min(free, chunk.size()));
    if (count == 0) {
        close_client(client);  // the peer closed (a subscriber that went away)
        return;
    }
    if (count < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            close_client(client);
        }
        return;
    }
    client.active_ns = now;
    if (client.closing) {
        return;  // nothing more is served; the bytes are dropped
    }
    client.input.append(chunk.data(), static_cast<std::size_t>(count));
}

void StreamServer::flush(Client& client) noexcept {
    while (client.pending() != 0) {
        const ssize_t count = ::send(client.fd, client.output.data() + client.sent,
                                     client.pending(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (count < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN) {
                close_client(client);
            }
            return;
        }
        client.sent += static_cast<std::size_t>(count);
        client.active_ns = now_;
    }
    client.output.clear();
    client.sent = 0;
}

void StreamServer::after_io(Client& client, Nanos now) noexcept {
    if (client.pending() == 0 && client.closing) {
        finish(client);
        return;
    }
    // Requests that arrived together are served one after another while each reply is written
    // at once; a few per step, and none once serving one consumed nothing (a partial line).
    for (int served = 0; served < requests_per_io && client.pending() == 0 &&
                         !client.input.empty() && !client.closing;
         ++served) {
        const std::size_t before = client.input.size();
        serve(client, now);
        if (client.fd < 0) {
            return;
        }
        flush(client);
        if (client.fd < 0) {
            return;
        }
        if (client.pending() == 0 && client.closing) {
            finish(client);
            return;
        }
        if (client.input.size() == before) {
            break;
        }
    }
    update_interest(client);
}

void StreamServer::update_interest(Client& client) noexcept {
    std::uint32_t interest = 0;
    if (client.input.size() < limits_.input_bytes || client.closing) {
        interest |= EPOLLIN;  // a closing client's bytes are read and dropped; EOF is noticed
    }
    if (client.pending() != 0) {
        interest |= EPOLLOUT;
    }
    if (interest == client.interest) {
        return;
    }
    client.interest = interest;
    epoll_event event{};
    event.events = interest;
    event.data.u32 = static_cast<std::uint32_t>(&client - clients_.data());
    HB_ASSERT(epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, client.fd, &event) == 0);
}

// Everything was written: says so (FIN) and waits for the client to close its side, reading
// and dropping what it still sends, so that unread input cannot turn the close into a reset
// that would destroy the reply in flight (TCP). The grace deadline bounds the wait.
void StreamServer::finish(Client& client) noexcept {
    if (!client.shut) {
        ::shutdown(client.fd, SHUT_WR);
        client.shut = true;
    }
    update_interest(client);
}

void StreamServer::close_client(Client& client) noexcept {
    HB_ASSERT(client.fd >= 0 && client_count_ > 0);
    closed(client);
    ::close(client.fd);  // also takes it out of the epoll set
    client.fd = -1;
    client.input.clear();
    client.output.clear();
    client.sent = 0;
    client.closing = false;
    client.shut = false;
    client.subscriber = false;
    --client_count_;
}

bool StreamServer::send(Client& client, std::string_view bytes, std::size_t keep_free) noexcept {
    if (client.fd < 0 || bytes.size() + keep_free > room(client)) {
        return false;
    }
    if (client.sent != 0) {
        client.output.erase(0, client.sent);  // within the reserved capacity: no allocation
        client.sent = 0;
    }
    client.output.append(bytes);
    flush(client);
    if (client.fd >= 0) {
        update_interest(client);
    }
    return true;
}

std::size_t StreamServer::room(const Client& client) const noexcept {
    const std::size_t used = client.pending();
    return used >= limits_.output_bytes ? 0 : limits_.output_bytes - used;
}

void StreamServer::close_after_output(Client& client, Nanos now) noexcept {
    client.closing = true;
    client.deadline_ns = now + limits_.close_grace_ns;
    client.input.clear();
}

void StreamServer::output_changed(Client& client) noexcept {
    flush(client);
    if (client.fd >= 0) {
        update_interest(client);
    }
}

// Closes clients past their grace period or idle too long; checked a few times a second.
bool StreamServer::expire(Nanos now) noexcept {
    if (now < next_expiry_check_ns_ || client_count_ == 0) {
        return false;
    }
    next_expiry_check_ns_ = now + expiry_check_period_ns;
    bool closed_any = false;
    for (Client& client : clients_) {
        if (client.fd < 0) {
            continue;
        }
        const bool grace_over = client.closing && now >= client.deadline_ns;
        const bool idle = limits_.idle_timeout_ns != 0 && !client.subscriber &&
                          now - client.active_ns >= limits_.idle_timeout_ns;
        if (grace_over || idle) {
            close_client(client);
            closed_any = true;
        }
    }
    return closed_any;
}

}  // namespace hb::hbd

// hbping's DPDK path: one DpdkTransport in inline mode, its records turned into Datagrams.
#include "tools/hbping/dpdk_endpoint.hh"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <filesystem>

#include "transport/dpdk/dpdk_transport.hh"
#include "transport/dpdk/eal.hh"

namespace hb::ping {

namespace {

// Stops the EAL (after every port is gone) and removes the runtime directory hbping's own file
// prefix gave it.
void stop_eal() {
    const std::string runtime_directory = transport::eal::runtime_directory();
    transport::eal::stop();
    if (!runtime_directory.empty()) {
        std::error_code ignored;
        std::filesystem::remove_all(runtime_directory, ignored);
    }
}

}  // namespace

std::variant<std::unique_ptr<DpdkEndpoint>, std::string> DpdkEndpoint::open(const DpdkSpec& spec) {
    if (std::string error = transport::eal::start(spec.eal_args); !error.empty()) {
        stop_eal();
        return "--eal-args: " + error;
    }
    transport::DpdkOptions options{
        .port = spec.port,
        .address = spec.address,
        .udp_port = spec.udp_port,
        .mode = spec.group ? NetworkMode::multicast : NetworkMode::unicast,
        .group = spec.group.value_or(Ipv4{}),
        .ttl = spec.ttl};
    auto opened = transport::DpdkTransport::open(options);
    if (auto* error = std::get_if<std::string>(&opened)) {
        std::string message = "--port " + spec.port + ": " + *error;
        stop_eal();
        return message;
    }
    std::unique_ptr<DpdkEndpoint> endpoint(new DpdkEndpoint());
    endpoint->transport_ = std::move(std::get<std::unique_ptr<transport::DpdkTransport>>(opened));
    endpoint->burst_.resize(transport::DpdkTransport::max_burst);
    return endpoint;
}

DpdkEndpoint::~DpdkEndpoint() {
    transport_.reset();  // the port and its mempool go before the EAL
    stop_eal();
}

std::size_t DpdkEndpoint::poll() noexcept {
    if (head_ == queue_.size()) {
        queue_.clear();
        head_ = 0;
    }
    const std::size_t received = transport_->receive(burst_);
    queue_.insert(queue_.end(), burst_.begin(),
                  burst_.begin() + static_cast<std::ptrdiff_t>(received));
    return received;
}

std::optional<Datagram> DpdkEndpoint::receive(std::span<std::uint8_t> buffer) noexcept {
    if (head_ == queue_.size() && poll() == 0) {
        return std::nullopt;
    }
    const RxRecord& record = queue_[head_++];
    Datagram datagram{.src_address = record.src_address, .src_port = record.src_port};
    if (record.length > record.bytes.size() || record.length > buffer.size()) {
        // Cut by the transport (longer than its records) or by `buffer`: truncated.
        datagram.length = buffer.size() + 1;
        return datagram;
    }
    std::copy_n(record.bytes.begin(), record.length, buffer.begin());
    datagram.length = record.length;
    return datagram;
}

bool DpdkEndpoint::resolve(Ipv4 address, Nanos until) noexcept {
    while (!transport_->resolve_neighbour(address)) {
        if (monotonic_now() >= until) {
            return false;
        }
        poll();  // the ARP reply; datagrams that come meanwhile wait in the queue
    }
    return true;
}

bool DpdkEndpoint::send_to(Ipv4 address, std::uint16_t port,
                           std::span<const std::uint8_t> bytes) noexcept {
    if (bytes.size() > wire::max_datagram) {
        errno = EMSGSIZE;
        return false;
    }
    if (!address.is_multicast() && !resolve(address, monotonic_now() + resolve_wait_ns)) {
        errno = EHOSTUNREACH;
        return false;
    }
    TxRecord record{.dst_address = address,
                    .dst_port = port,
                    .length = static_cast<std::uint16_t>(bytes.size())};
    std::copy(bytes.begin(), bytes.end(), record.bytes.begin());
    if (transport_->send({&record, 1}) != 1) {
        errno = ENOBUFS;
        return false;
    }
    return true;
}

bool DpdkEndpoint::wait(Nanos until, const sigset_t& wait_mask) {
    // A ppoll without descriptors and timeout every so many polls: the only place the stop
    // signals are unblocked, as in SocketEndpoint::wait.
    constexpr unsigned polls_per_signal_check = 256;
    const timespec no_time{};
    for (unsigned polls = 0;; ++polls) {
        if (head_ != queue_.size() || poll() != 0) {
            return true;
        }
        if (monotonic_now() >= until) {
            return false;
        }
        if (polls % polls_per_signal_check == 0 && ppoll(nullptr, 0, &no_time, &wait_mask) < 0) {
            return false;  // interrupted by a signal
        }
    }
}

void DpdkEndpoint::prepare(Ipv4 destination, Nanos until) {
    if (!destination.is_multicast()) {
        static_cast<void>(resolve(destination, until));  // failing, the pings report it
    }
}

std::size_t DpdkEndpoint::max_datagram() const noexcept {
    return wire::max_datagram;
}

}  // namespace hb::ping

// hbd's control socket: requests, status replies and the event stream of subscribers.
#include "tools/hbd/control.hh"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "hb/assert.hh"

namespace hb::hbd {

namespace {

// Room kept free in a subscriber's output for the notice that it lagged.
constexpr std::size_t notice_reserve = 256;
constexpr std::size_t min_output_bytes = 128 * 1024;
constexpr Nanos control_idle_timeout_ns = 60 * nanos_per_s;
constexpr int listen_backlog = 16;

std::string errno_text(std::string_view what, int error) {
    return fmt::format("{}: {}", what, std::strerror(error));
}

// Creates each missing directory of `directory` with mode 0750 (never loosening existing ones).
std::string make_directories(const std::filesystem::path& directory) {
    std::filesystem::path partial;
    for (const auto& part : directory) {
        partial /= part;
        if (::mkdir(partial.c_str(), 0750) == 0) {
            // mkdir's mode goes through the umask; the directory must end up 0750 exactly.
            if (::chmod(partial.c_str(), 0750) != 0) {
                return errno_text("chmod " + partial.native(), errno);
            }
        } else if (errno != EEXIST) {
            return errno_text("cannot create directory " + partial.native(), errno);
        }
    }
    return {};
}

sockaddr_un address_of(const std::filesystem::path& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    HB_ASSERT(path.native().size() < sizeof address.sun_path);  // checked with the config
    std::memcpy(address.sun_path, path.c_str(), path.native().size() + 1);
    return address;
}

// "" when nothing is at `path` or a stale socket was removed; else why the path cannot be used.
std::string clear_stale(const std::filesystem::path& path) {
    struct stat status {};
    if (::lstat(path.c_str(), &status) != 0) {
        return errno == ENOENT ? std::string() : errno_text("cannot stat " + path.native(), errno);
    }
    if (!S_ISSOCK(status.st_mode)) {
        return path.native() + " exists and is not a socket; remove it or set [control] socket";
    }
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) {
        return errno_text("socket", errno);
    }
    const sockaddr_un address = address_of(path);
    const int connected =
        ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof address);
    const int connect_error = errno;
    ::close(probe);
    if (connected == 0) {
        return "another process serves the control socket " + path.native() +
               " (is an hbd for this node running already?)";
    }
    if (connect_error != ECONNREFUSED && connect_error != ENOENT) {
        return errno_text("cannot probe " + path.native(), connect_error);
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return errno_text("cannot remove the stale socket " + path.native(), errno);
    }
    return {};
}

}  // namespace

std::variant<Request, std::string> parse_request(std::string_view line) {
    const nlohmann::json json = nlohmann::json::parse(line, nullptr, false);
    if (json.is_discarded() || !json.is_object()) {
        return std::string("not a JSON object");
    }
    Request request;
    const auto kind = json.find("request");
    if (kind == json.end() || !kind->is_string()) {
        return std::string(R"(needs "request": "status" or "events")");
    }
    const auto& name = kind->get_ref<const std::string&>();
    if (name == "status") {
        request.kind = Request::Kind::status;
    } else if (name == "events") {
        request.kind = Request::Kind::events;
    } else {
        return fmt::format(R"(unknown request "{}": "status" or "events")", name.substr(0, 32));
    }
    for (const auto& [key, value] : json.items()) {
        if (key == "request") {
            continue;
        }
        if (request.kind != Request::Kind::events || (key != "last" && key != "follow")) {
            return fmt::format(R"(unknown key "{}" in a {} request)", key.substr(0, 32), name);
        }
        if (key == "follow") {
            if (!value.is_boolean()) {
                return std::string(R"("follow" must be true or false)");
            }
            request.follow = value.get<bool>();
        } else {
            if (!value.is_number_unsigned()) {
                return std::string(R"("last" must be a non-negative integer)");
            }
            request.last = static_cast<std::size_t>(
                std::min<std::uint64_t>(value.get<std::uint64_t>(), EventRecord::default_history));
        }
    }
    return request;
}

std::variant<std::unique_ptr<ControlServer>, std::string> ControlServer::open(
    const std::filesystem::path& socket_path, const NodeView& view, std::size_t output_bytes) {
    if (socket_path.native().size() >= sizeof(sockaddr_un::sun_path)) {
        return "control socket path " + socket_path.native() + " is too long";
    }
    if (std::string error = make_directories(socket_path.parent_path()); !error.empty()) {
        return "control socket: " + error;
    }
    if (std::string error = clear_stale(socket_path); !error.empty()) {
        return "control socket: " + error;
    }
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return "control socket: " + errno_text("socket", errno);
    }
    const sockaddr_un address = address_of(socket_path);
    struct stat status {};
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        ::chmod(socket_path.c_str(), 0660) != 0 || ::listen(fd, listen_backlog) != 0 ||
        ::lstat(socket_path.c_str(), &status) != 0) {
        const int error = errno;
        ::close(fd);
        return "control socket: " + errno_text("cannot serve " + socket_path.native(), error);
    }
    const Limits limits{
        .max_clients = max_clients,
        .input_bytes = request_max_bytes,
        .output_bytes = output_bytes != 0
                            ? output_bytes
                            : std::max(min_output_bytes,
                                       status_size_hint(view.engine.topology()) + notice_reserve),
        .idle_timeout_ns = control_idle_timeout_ns,
    };
    return std::unique_ptr<ControlServer>(
        new ControlServer(fd, socket_path, status.st_ino, view, limits));
}

ControlServer::ControlServer(int listen_fd, std::filesystem::path path, ino_t inode,
                             const NodeView& view, Limits limits)
    : StreamServer(listen_fd, limits),
      path_(std::move(path)),
      inode_(inode),
      view_{.engine = view.engine,
            .detector = view.detector,
            .health = view.health,
            .disk = view.disk,
            .events = view.events,
            .control = &counters_,
            .started_ns = view.started_ns} {
    line_.reserve(limits.output_bytes);
}

ControlServer::~ControlServer() {
    // A newer hbd may have replaced a socket it found unanswered (this one hung): leave that.
    struct stat status {};
    if (::lstat(path_.c_str(), &status) == 0 && status.st_ino == inode_) {
        ::unlink(path_.c_str());
    }
}

bool ControlServer::poll(Nanos now) noexcept {
    const bool did_work = StreamServer::poll(now);
    update_counters();
    return did_work;
}

void ControlServer::update_counters() noexcept {
    counters_.clients = client_count();
    counters_.accepted = accepted_;
    counters_.refused = refused_;
}

void ControlServer::serve(Client& client, Nanos now) noexcept {
    if (client.subscriber) {
        client.input.clear();  // a subscriber has nothing more to ask
        return;
    }
    const std::size_t end = client.input.find('\n');
    if (end == std::string::npos) {
        if (client.input.size() >= limits().input_bytes) {
            ++counters_.bad_requests;
            reply_error(client, fmt::format("request longer than {} bytes", request_max_bytes));
            close_after_output(client, now);
        }
        return;  // the rest of the line has not arrived yet
    }
    std::string_view line(client.input.data(), end);
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    ++counters_.requests;
    std::variant<Request, std::string> parsed = parse_request(line);
    client.input.erase(0, end + 1);
    if (auto* error = std::get_if<std::string>(&parsed)) {
        ++counters_.bad_requests;
        reply_error(client, "bad request: " + *error);
        return;
    }
    answer(client, std::get<Request>(parsed), now);
}

void ControlServer::answer(Client& client, const Request& request, Nanos now) noexcept {
    HB_ASSERT(client.pending() == 0);
    client.output.clear();
    client.sent = 0;
    if (request.kind == Request::Kind::status) {
        update_counters();
        render_status_json(view_, now, client.output);
        client.output.push_back('\n');
        output_changed(client);
        return;
    }
    const ClusterConfig& config = view_.engine.topology().config();
    const std::size_t shown = std::min(request.last, view_.events.remembered());
    for (std::size_t i = 0; i < shown; ++i) {
        line_ = event_to_json(view_.events.recent(shown, i), config);
        line_.push_back('\n');
        // Only while history was kept small does it all fit; the oldest are the ones cut.
        if (!send(client, line_, notice_reserve)) {
            break;
        }
    }
    if (request.follow) {
        client.subscriber = true;
        ++counters_.subscribers;
    } else {
        close_after_output(client, now);
    }
}

void ControlServer::reply_error(Client& client, std::string_view message) noexcept {
    line_ = R"({"error":)";
    append_json_string(line_, message);
    line_ += "}\n";
    static_cast<void>(send(client, line_));
}

void ControlServer::refuse(int fd) noexcept {
    constexpr std::string_view busy = R"({"error":"too many clients of the control socket"})"
                                      "\n";
    [[maybe_unused]] const ssize_t sent =
        ::send(fd, busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void ControlServer::closed(Client& client) noexcept {
    if (client.subscriber) {
        HB_ASSERT(counters_.subscribers > 0);
        --counters_.subscribers;
    }
}

void ControlServer::publish(std::string_view line) noexcept {
    if (counters_.subscribers == 0) {
        return;
    }
    for (Client& client : clients()) {
        if (client.fd < 0 || !client.subscriber || client.closing) {
            continue;
        }
        line_.assign(line);
        line_.push_back('\n');
        if (send(client, line_, notice_reserve)) {
            continue;
        }
        // The client fell behind by a whole buffer: never wait for it, never drop silently.
        ++counters_.lagged;
        line_ =
            fmt::format(R"({{"error":"lagged","message":"this subscriber read events too slowly; )"
                        R"({} bytes were waiting; disconnected"}})"
                        "\n",
                        client.pending());
        static_cast<void>(send(client, line_));
        close_after_output(client, now());
    }
}

}  // namespace hb::hbd

#include "transport/dpdk/eal.hh"

#include <mutex>
#include <vector>

// DPDK's headers are not written for -Wpedantic C++: they are compiled as system headers.
#include <rte_eal.h>
#include <rte_errno.h>

namespace hb::transport::eal {

namespace {

enum class State { never_started, running, failed, stopped };

struct Eal {
    std::mutex mutex;
    State state = State::never_started;
    std::string error;
    // rte_eal_init keeps pointers into argv: the strings live as long as the process.
    std::vector<std::string> arguments;
    std::vector<char*> argv;
};

Eal& instance() {
    static Eal eal;
    return eal;
}

}  // namespace

std::string start(std::span<const std::string> args) {
    Eal& eal = instance();
    const std::lock_guard lock(eal.mutex);
    switch (eal.state) {
        case State::running:
            return {};
        case State::failed:
            return eal.error;
        case State::stopped:
            return "the DPDK EAL was already stopped in this process and cannot start again";
        case State::never_started:
            break;
    }
    eal.arguments.assign(1, "hb");
    eal.arguments.insert(eal.arguments.end(), args.begin(), args.end());
    eal.argv.clear();
    for (std::string& argument : eal.arguments) {
        eal.argv.push_back(argument.data());
    }
    eal.argv.push_back(nullptr);
    const int parsed = rte_eal_init(static_cast<int>(eal.arguments.size()), eal.argv.data());
    if (parsed < 0) {
        eal.state = State::failed;
        std::string joined;
        for (const std::string& argument : args) {
            joined += (joined.empty() ? "" : " ") + argument;
        }
        eal.error = "DPDK EAL start failed (" + std::string(rte_strerror(rte_errno)) +
                    ") with arguments: " + joined;
        return eal.error;
    }
    eal.state = State::running;
    return {};
}

bool running() noexcept {
    Eal& eal = instance();
    const std::lock_guard lock(eal.mutex);
    return eal.state == State::running;
}

std::string runtime_directory() {
    Eal& eal = instance();
    const std::lock_guard lock(eal.mutex);
    return eal.state == State::running ? std::string(rte_eal_get_runtime_dir()) : std::string();
}

void stop() noexcept {
    Eal& eal = instance();
    const std::lock_guard lock(eal.mutex);
    if (eal.state == State::running) {
        rte_eal_cleanup();
        eal.state = State::stopped;
    }
}

}  // namespace hb::transport::eal

#include "hb/clock.hh"

#include <ctime>

namespace hb {

Nanos monotonic_now() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<Nanos>(ts.tv_sec) * nanos_per_s + ts.tv_nsec;
}

}  // namespace hb

// Raw round-trip samples for the benchmark harness (bench/hbbench): one value in microseconds
// per line, in the order measured, so every percentile a summary quotes can be found again.
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <vector>

#include "hb/clock.hh"

namespace hb::bench {

// Writes the samples to `path`; false (with a message on stderr) when the file cannot be written.
[[nodiscard]] inline bool write_samples_us(const std::string& path,
                                           const std::vector<Nanos>& samples) {
    std::FILE* file = std::fopen(path.c_str(), "w");
    if (file == nullptr) {
        fmt::print(stderr, "cannot write samples to {}\n", path);
        return false;
    }
    for (const Nanos sample : samples) {
        fmt::print(file, "{:.3f}\n", static_cast<double>(sample) / 1e3);
    }
    return std::fclose(file) == 0;
}

}  // namespace hb::bench

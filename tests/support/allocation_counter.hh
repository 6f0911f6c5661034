// Replaces the global operator new/delete to count every heap allocation in a test binary, so a
// test can prove a path allocates nothing. Include it in exactly one source file per binary.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace hb::test {
inline std::atomic<std::uint64_t> allocations{0};
}  // namespace hb::test

// Out of line so the compiler does not pair free() with an inlined new and warn.
[[gnu::noinline]] void* operator new(std::size_t size) {
    hb::test::allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* memory = std::malloc(size == 0 ? 1 : size)) {
        return memory;
    }
    throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* memory) noexcept {
    std::free(memory);
}
[[gnu::noinline]] void operator delete(void* memory, std::size_t) noexcept {
    std::free(memory);
}

// Assertions that stay on in every build type: a broken invariant in a failure detector must stop
// the process, not produce a wrong verdict.
#pragma once

namespace hb::detail {
[[noreturn]] void assert_fail(const char* expression, const char* file, int line,
                              const char* function) noexcept;
}  // namespace hb::detail

#define HB_ASSERT(expression)      \
    (static_cast<bool>(expression) \
         ? void(0)                 \
         : ::hb::detail::assert_fail(#expression, __FILE__, __LINE__, __func__))

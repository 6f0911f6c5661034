#include "hb/assert.hh"

#include <cstdio>
#include <cstdlib>

namespace hb::detail {

void assert_fail(const char* expression, const char* file, int line,
                 const char* function) noexcept {
    std::fprintf(stderr, "hb: assertion failed: %s (%s:%d in %s)\n", expression, file, line,
                 function);
    std::fflush(stderr);
    std::abort();
}

}  // namespace hb::detail

#include "hb/timer_wheel.hh"

#include <bit>

namespace hb {

TimerWheel::TimerWheel(std::uint32_t slot_count, Nanos resolution_ns, Nanos start_ns)
    : slots_(slot_count),
      mask_(slot_count - 1),
      resolution_ns_(resolution_ns),
      origin_ns_(start_ns),
      cursor_slot_(0) {
    HB_ASSERT(std::has_single_bit(slot_count));
    HB_ASSERT(resolution_ns > 0);
    for (Timer& sentinel : slots_) {
        sentinel.next = sentinel.prev = &sentinel;
    }
}

void TimerWheel::link(Timer& timer) noexcept {
    // Deadlines already behind the cursor go into the cursor's slot so the next advance sees them.
    const std::uint64_t slot = std::max(slot_number(timer.deadline), cursor_slot_);
    Timer& sentinel = head(slot);
    timer.next = &sentinel;
    timer.prev = sentinel.prev;
    sentinel.prev->next = &timer;
    sentinel.prev = &timer;
}

void TimerWheel::unlink(Timer& timer) noexcept {
    timer.prev->next = timer.next;
    timer.next->prev = timer.prev;
    timer.prev = timer.next = nullptr;
}

void TimerWheel::arm(Timer& timer, Nanos deadline) noexcept {
    if (timer.armed) {
        unlink(timer);
    } else {
        ++armed_count_;
    }
    timer.deadline = deadline;
    timer.armed = true;
    link(timer);
}

void TimerWheel::cancel(Timer& timer) noexcept {
    if (!timer.armed) {
        return;
    }
    unlink(timer);
    timer.armed = false;
    --armed_count_;
}

Nanos TimerWheel::next_deadline() const noexcept {
    if (armed_count_ == 0) {
        return never;
    }
    // The first non-empty slot from the cursor holds the earliest deadline unless its timers
    // belong to later turns; a full turn of slots bounds the search.
    Nanos earliest = never;
    for (std::uint64_t slot = cursor_slot_; slot <= cursor_slot_ + mask_; ++slot) {
        const Timer& sentinel = slots_[slot & mask_];
        const Nanos slot_end = origin_ns_ + static_cast<Nanos>(slot + 1) * resolution_ns_;
        for (const Timer* t = sentinel.next; t != &sentinel; t = t->next) {
            earliest = std::min(earliest, t->deadline);
        }
        if (earliest < slot_end) {
            return earliest;
        }
    }
    return earliest;
}

}  // namespace hb

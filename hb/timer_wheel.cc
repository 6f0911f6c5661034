#include "hb/timer_wheel.hh"

#include <bit>

namespace hb {

TimerWheel::TimerWheel(std::uint32_t slot_count, Nanos resolution_ns, Nanos start_ns)
    : slots_(slot_count),
      mask_(slot_count - 1),
      resolution_ns_(resolution_ns),
      origin_ns_(start_ns),
      cursor_slot_(0) {
    HB_ASSERT(std::has_single_bit(slot_count) && slot_count >= 64);
    occupied_.assign(slot_count / 64, 0);
    HB_ASSERT(resolution_ns > 0);
    for (Timer& sentinel : slots_) {
        sentinel.next = sentinel.prev = &sentinel;
    }
}

void TimerWheel::link(Timer& timer) noexcept {
    // Deadlines already behind the cursor go into the cursor's slot so the next advance sees them.
    const std::uint64_t slot = std::max(slot_number(timer.deadline), cursor_slot_);
    const std::uint64_t physical = slot & mask_;
    Timer& sentinel = slots_[physical];
    timer.slot = static_cast<std::uint32_t>(physical);
    occupied_[physical / 64] |= std::uint64_t{1} << (physical & 63);
    timer.next = &sentinel;
    timer.prev = sentinel.prev;
    sentinel.prev->next = &timer;
    sentinel.prev = &timer;
}

void TimerWheel::unlink(Timer& timer) noexcept {
    timer.prev->next = timer.next;
    timer.next->prev = timer.prev;
    timer.prev = timer.next = nullptr;
    const Timer& sentinel = slots_[timer.slot];
    if (sentinel.next == &sentinel) {
        occupied_[timer.slot / 64] &= ~(std::uint64_t{1} << (timer.slot & 63));
    }
}

std::uint64_t TimerWheel::next_occupied(std::uint64_t from, std::uint64_t last) const noexcept {
    // Whole empty 64-slot words are skipped at once; slot_count >= 64 keeps a word's bits in
    // one turn, so a skip never wraps past a slot it should have seen.
    while (from <= last) {
        const std::uint64_t physical = from & mask_;
        const std::uint64_t bits = occupied_[physical / 64] >> (physical & 63);
        if (bits != 0) {
            const std::uint64_t found = from + static_cast<std::uint64_t>(std::countr_zero(bits));
            return found <= last ? found : last + 1;
        }
        from += 64 - (physical & 63);
    }
    return last + 1;
}

void TimerWheel::arm(Timer& timer, Nanos deadline) noexcept {
    if (timer.armed) {
        unlink(timer);
    } else {
        ++armed_count_;
    }
    timer.deadline = deadline;
    timer.armed = true;
    next_due_ns_ = std::min(next_due_ns_, deadline);
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
    const std::uint64_t last = cursor_slot_ + mask_;
    for (std::uint64_t slot = next_occupied(cursor_slot_, last); slot <= last;
         slot = next_occupied(slot + 1, last)) {
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

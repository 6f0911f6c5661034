// A hashed timer wheel with intrusive, preallocated timers: arming, re-arming and cancelling are
// O(1) and never allocate. Timers fire exactly when `now >= deadline`; the slot resolution only
// bounds how many timers advance() looks at.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "hb/assert.hh"
#include "hb/clock.hh"

namespace hb {

struct Timer {
    Timer* prev = nullptr;
    Timer* next = nullptr;
    Nanos deadline = 0;
    std::uint32_t id = 0;    // the owner's handle, given back when the timer fires
    std::uint32_t slot = 0;  // physical slot while armed
    bool armed = false;
};

class TimerWheel {
public:
    static constexpr Nanos never = std::numeric_limits<Nanos>::max();

    // slot_count must be a power of two, at least 64.
    TimerWheel(std::uint32_t slot_count, Nanos resolution_ns, Nanos start_ns);
    TimerWheel(const TimerWheel&) = delete;
    TimerWheel& operator=(const TimerWheel&) = delete;

    void arm(Timer& timer, Nanos deadline) noexcept;
    void cancel(Timer& timer) noexcept;

    // Fires (unlinks, then calls on_fire(timer)) every armed timer with deadline <= now, in no
    // particular order. on_fire may re-arm any timer, including the one it was given.
    // Returns how many fired.
    template <typename OnFire>
    std::uint32_t advance(Nanos now, OnFire&& on_fire) noexcept;

    // The earliest armed deadline, or `never`.
    Nanos next_deadline() const noexcept;
    std::uint32_t armed_count() const noexcept { return armed_count_; }

private:
    std::uint64_t slot_number(Nanos t) const noexcept {
        return static_cast<std::uint64_t>(t < origin_ns_ ? 0 : (t - origin_ns_) / resolution_ns_);
    }
    Timer& head(std::uint64_t slot) noexcept { return slots_[slot & mask_]; }
    void link(Timer& timer) noexcept;
    void unlink(Timer& timer) noexcept;
    // The first slot in [from, last] holding a timer, or last + 1.
    std::uint64_t next_occupied(std::uint64_t from, std::uint64_t last) const noexcept;

    std::vector<Timer> slots_;             // list heads (sentinels)
    std::vector<std::uint64_t> occupied_;  // bit per physical slot: its list is not empty
    std::uint64_t mask_;
    Nanos resolution_ns_;
    Nanos origin_ns_;
    std::uint64_t cursor_slot_;  // every timer in slots before this one has fired
    // No armed timer has a deadline before this: advance() before it has nothing to do, which
    // makes the common tick (nothing due) O(1).
    Nanos next_due_ns_ = never;
    std::uint32_t armed_count_ = 0;
};

template <typename OnFire>
std::uint32_t TimerWheel::advance(Nanos now, OnFire&& on_fire) noexcept {
    if (now < next_due_ns_) {
        return 0;
    }
    const std::uint64_t target = slot_number(now);
    if (target < cursor_slot_) {
        return 0;  // time did not move forward (the monotonic clock never goes back)
    }
    // Recomputed below: the earliest deadline among the timers looked at and left armed, or the
    // start of the next slot, whichever is first (timers in slots not looked at are due no
    // earlier than that). Timers armed by on_fire lower it through arm().
    next_due_ns_ = never;
    Nanos earliest_left = never;
    // A jump of more than one turn visits every slot once.
    const std::uint64_t last = std::min<std::uint64_t>(target, cursor_slot_ + mask_);
    std::uint32_t fired = 0;
    for (std::uint64_t slot = next_occupied(cursor_slot_, last); slot <= last;
         slot = next_occupied(slot + 1, last)) {
        Timer& sentinel = head(slot);
        // Detach the list so that timers re-armed by on_fire into this slot are not revisited.
        Timer pending;
        pending.next = sentinel.next;
        pending.prev = sentinel.prev;
        pending.next->prev = &pending;
        pending.prev->next = &pending;
        sentinel.next = sentinel.prev = &sentinel;
        occupied_[(slot & mask_) / 64] &= ~(std::uint64_t{1} << (slot & mask_ & 63));
        while (pending.next != &pending) {
            Timer& timer = *pending.next;
            // Unlinked from the detached list, which no slot owns.
            timer.prev->next = timer.next;
            timer.next->prev = timer.prev;
            timer.prev = timer.next = nullptr;
            if (timer.deadline <= now) {
                timer.armed = false;
                --armed_count_;
                ++fired;
                on_fire(timer);
            } else {
                earliest_left = std::min(earliest_left, timer.deadline);
                link(timer);  // a later turn of the wheel, or later in the current slot
            }
        }
    }
    cursor_slot_ = target;
    const Nanos next_slot_start = origin_ns_ + static_cast<Nanos>(target + 1) * resolution_ns_;
    next_due_ns_ = std::min({next_due_ns_, earliest_left, next_slot_start});
    return fired;
}

}  // namespace hb

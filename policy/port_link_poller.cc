#include "policy/port_link_poller.hh"

#include <algorithm>

#include "hb/assert.hh"

namespace hb::policy {

PortLinkPoller::PortLinkPoller(std::vector<PortLinkAdapter> adapters, Detector& detector,
                               Nanos period_ns)
    : detector_(detector), period_ns_(period_ns) {
    states_.reserve(adapters.size());
    for (const PortLinkAdapter& adapter : adapters) {
        HB_ASSERT(adapter.transport != nullptr);
        states_.push_back(AdapterState{.adapter = adapter});
    }
}

std::unique_ptr<PortLinkPoller> PortLinkPoller::open(std::vector<PortLinkAdapter> adapters,
                                                     Detector& detector, Nanos period_ns,
                                                     Nanos now) {
    HB_ASSERT(period_ns > 0);
    std::unique_ptr<PortLinkPoller> poller{
        new PortLinkPoller(std::move(adapters), detector, period_ns)};
    for (AdapterState& adapter : poller->states_) {
        poller->read(adapter, now);
    }
    poller->next_read_ns_ = now + period_ns;
    return poller;
}

bool PortLinkPoller::read(AdapterState& adapter, Nanos now) noexcept {
    ++counters_.reads;
    const LinkState state = adapter.adapter.transport->link_state();
    if (state == LinkState::unknown) {
        // A port that cannot tell this time says nothing about its link: keep what we knew.
        ++counters_.unknown;
        return false;
    }
    const LinkState previous = adapter.state;
    adapter.state = state;
    if (state == LinkState::up) {
        adapter.last_up_ns = now;
    }
    if (state == previous) {
        return false;
    }
    // The first read reports too (the initial state). A failure dates from the last read that
    // still saw the link up, which is when the adapter was last known to work.
    const bool up = state == LinkState::up;
    const Nanos since_ns = up || adapter.last_up_ns == 0 ? now : adapter.last_up_ns;
    detector_.on_local_adapter(adapter.adapter.local, up, evidence::link, since_ns);
    if (previous != LinkState::unknown) {
        ++counters_.changes;
    }
    return true;
}

bool PortLinkPoller::poll(Nanos now) noexcept {
    if (now < next_read_ns_) {
        return false;
    }
    // Keep the schedule without catching up on reads missed while the loop was away.
    next_read_ns_ = std::max(next_read_ns_ + period_ns_, now + period_ns_ / 2);
    bool changed = false;
    for (AdapterState& adapter : states_) {
        changed = read(adapter, now) || changed;
    }
    return changed;
}

}  // namespace hb::policy

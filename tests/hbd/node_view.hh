// A NodeView of one TestCluster member, for rendering its status and metrics in tests.
#pragma once

#include "tests/support/test_cluster.hh"
#include "tools/hbd/status.hh"

namespace hb::hbd {

inline NodeView view_of(test::TestCluster::Member& member, const EventRecord& events) {
    return NodeView{.engine = *member.engine, .detector = member.detector, .events = events};
}

}  // namespace hb::hbd

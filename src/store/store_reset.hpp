// Whether the store answering now is still the one a watcher has been following, or one
// restored from an older backup or wiped and started again (docs/adr/0014). etcd never goes
// back in revision and never changes its cluster ID while it only goes on from where it was, so
// either seen in a linearizable answer means its history is not ours: what we have applied may
// not exist there, and a watch resumed from our revision would wait silently until the new
// store caught up, missing everything in between.
#pragma once

#include <optional>
#include <string>

#include "store/registry.hpp"

namespace tartan::store {

// `followed`: the cluster ID we last saw and the revision we have applied everything up to.
// `seen`: what a linearizable answer (a listing, Registry::Probe) said. Unknown parts (an
// empty ID, revision 0) decide nothing. Returns why the store was reset, for the log.
std::optional<std::string> StoreResetReason(const StoreMark& followed, const StoreMark& seen);

}  // namespace tartan::store

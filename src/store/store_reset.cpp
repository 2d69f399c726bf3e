#include "store/store_reset.hpp"

namespace tartan::store {

std::optional<std::string> StoreResetReason(const StoreMark& followed, const StoreMark& seen) {
  if (!followed.cluster_id.empty() && !seen.cluster_id.empty() &&
      followed.cluster_id != seen.cluster_id) {
    return "etcd's cluster ID changed from " + followed.cluster_id + " to " + seen.cluster_id;
  }
  if (followed.revision > 0 && seen.revision > 0 && seen.revision < followed.revision) {
    return "etcd's store is at revision " + std::to_string(seen.revision) + ", behind revision " +
           std::to_string(followed.revision) + " already seen";
  }
  return std::nullopt;
}

}  // namespace tartan::store

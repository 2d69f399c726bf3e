#include "store/release_memory.hpp"

#include <malloc.h>
#include <sys/mman.h>

#include <charconv>
#include <cstdint>
#include <fstream>
#include <mutex>
#include <string>

namespace tartan::store {

namespace {

// glibc's defaults, fixed: setting them turns off the dynamic raising that follows the free
// of a large mapped block (up to 32 MiB mapped threshold, 64 MiB trim threshold), after which
// a one-off multi-MiB buffer and the heap above it would stay resident.
constexpr int kMmapThreshold = 128 * 1024;
constexpr int kTrimThreshold = 128 * 1024;

std::string_view Field(std::string_view& line) {
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  const size_t end = std::min(line.find(' '), line.size());
  std::string_view f = line.substr(0, end);
  line.remove_prefix(end);
  return f;
}

struct Mapping {
  uintptr_t start = 0;
  uintptr_t end = 0;
  std::string perms;
  std::string path;
  size_t anonymous_kb = 0;
  size_t rss_kb = 0;
};

size_t Drop(const Mapping& m) {
  if (m.end <= m.start || !DroppableMapping(m.perms, m.path, m.anonymous_kb)) return 0;
  // For a private file mapping with no private copies, MADV_DONTNEED only unmaps the page
  // cache's pages from this process; the next access maps them again.
  // The address comes from the kernel's own listing of our mappings.
  // NOLINTNEXTLINE(performance-no-int-to-ptr)
  if (::madvise(reinterpret_cast<void*>(m.start), m.end - m.start, MADV_DONTNEED) != 0) return 0;
  return m.rss_kb * 1024;
}

}  // namespace

// Called before any thread exists (see the header).
void ConfigureAllocator() {
  mallopt(M_ARENA_MAX, 1);                    // NOLINT(concurrency-mt-unsafe)
  mallopt(M_MMAP_THRESHOLD, kMmapThreshold);  // NOLINT(concurrency-mt-unsafe)
  mallopt(M_TRIM_THRESHOLD, kTrimThreshold);  // NOLINT(concurrency-mt-unsafe)
}

bool DroppableMapping(std::string_view perms, std::string_view path, size_t anonymous_kb) {
  if (perms.size() < 4 || perms[0] != 'r' || perms[1] != '-') return false;  // writable
  if (anonymous_kb != 0) return false;  // private copies (relocations): not in the file
  return path.starts_with('/');         // a file; not [vdso], [vvar], [stack] or anonymous
}

bool FileDropDue(bool startup, std::chrono::steady_clock::time_point now,
                 std::optional<std::chrono::steady_clock::time_point> last) {
  if (startup) return true;
  return last && now - *last >= kFileRedrop;
}

size_t ReleaseMemory(bool startup) {
  malloc_trim(0);
  // Only the lease-watch thread calls this once started; the mutex is for anyone else.
  static std::mutex mu;
  static std::optional<std::chrono::steady_clock::time_point> last;
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu);
    if (!FileDropDue(startup, now, last)) return 0;
    last = now;
  }
  std::ifstream smaps("/proc/self/smaps");
  if (!smaps) return 0;
  size_t dropped = 0;
  Mapping m;
  bool have = false;
  std::string line;
  while (std::getline(smaps, line)) {
    std::string_view rest = line;
    const std::string_view first = Field(rest);
    const size_t dash = first.find('-');
    // A header: "start-end perms offset dev inode [path]"; the other lines are "Name: value".
    if (dash != std::string_view::npos && first.back() != ':') {
      if (have) dropped += Drop(m);
      m = Mapping{};
      have = std::from_chars(first.data(), first.data() + dash, m.start, 16).ec == std::errc() &&
             std::from_chars(first.data() + dash + 1, first.data() + first.size(), m.end, 16).ec ==
                 std::errc();
      m.perms = std::string(Field(rest));
      Field(rest);  // offset
      Field(rest);  // device
      Field(rest);  // inode
      while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
      m.path = std::string(rest);
      continue;
    }
    size_t* value = first == "Anonymous:" ? &m.anonymous_kb : first == "Rss:" ? &m.rss_kb : nullptr;
    if (value == nullptr) continue;
    const std::string_view number = Field(rest);
    std::from_chars(number.data(), number.data() + number.size(), *value);
  }
  if (have) dropped += Drop(m);
  return dropped;
}

}  // namespace tartan::store

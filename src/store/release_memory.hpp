// Giving memory back to the system once the agent has settled after a lease listing or a
// burst of lease events (StoreOptions::on_settled; issue 13: memory proportional to what is
// needed, returned after the one-off start-up listing).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string_view>

namespace tartan::store {

// Process-wide allocator settings for a long-running agent with a few mostly idle threads,
// set once at start before any thread: one malloc arena (a thread arena per helper thread
// keeps its own free pages), and fixed mmap/trim thresholds, so a large transient buffer (a
// listing's body) is mapped and unmapped on its own instead of raising glibc's dynamic
// thresholds and staying in the heap.
void ConfigureAllocator();

// Hands free heap pages back to the kernel (malloc_trim). With `startup`, also drops this
// process's mappings of clean, read-only file pages (code and constants of tartand and its
// libraries, the dynamic linker's symbol tables): most were needed only to start (option
// parsing, linking, TLS set-up). They stay in the page cache and are mapped again, on the
// next access, as far as they are used. Later calls drop them again at most once every
// kFileRedrop: what the first periodic passes and lease events mapped back only once (code
// run once, symbol tables searched to bind a library function on its first call) goes, and
// what the steady state uses comes back within one pass. Returns the bytes of file pages
// dropped.
size_t ReleaseMemory(bool startup);

inline constexpr std::chrono::seconds kFileRedrop{60};

// For ReleaseMemory and its test: whether file pages are due to be dropped at `now`, the last
// drop having been at `last` (std::nullopt: never).
bool FileDropDue(bool startup, std::chrono::steady_clock::time_point now,
                 std::optional<std::chrono::steady_clock::time_point> last);

// For ReleaseMemory and its test: whether a mapping of /proc/self/smaps (its header line's
// permissions and path, and its Anonymous: kB) may have its pages dropped: read-only,
// file-backed, nothing private written to it (a relocated RELRO segment holds anonymous
// copies that must stay).
bool DroppableMapping(std::string_view perms, std::string_view path, size_t anonymous_kb);

}  // namespace tartan::store

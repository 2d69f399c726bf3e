#include "store/release_memory.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tartan::store {
namespace {

TEST(ReleaseMemory, OnlyCleanReadOnlyFileMappingsAreDropped) {
  EXPECT_TRUE(DroppableMapping("r-xp", "/usr/lib/x86_64-linux-gnu/libc.so.6", 0));
  EXPECT_TRUE(DroppableMapping("r--p", "/usr/sbin/tartand", 0));
  // A relocated RELRO segment: read-only now, but its private copies are not in the file.
  EXPECT_FALSE(DroppableMapping("r--p", "/usr/lib/x86_64-linux-gnu/libcrypto.so.3", 392));
  EXPECT_FALSE(DroppableMapping("rw-p", "/usr/lib/x86_64-linux-gnu/libc.so.6", 0));
  EXPECT_FALSE(DroppableMapping("rw-p", "[heap]", 0));
  EXPECT_FALSE(DroppableMapping("r--p", "[vvar]", 0));
  EXPECT_FALSE(DroppableMapping("r-xp", "[vdso]", 0));
  EXPECT_FALSE(DroppableMapping("r--p", "", 0));
  EXPECT_FALSE(DroppableMapping("---p", "/usr/lib/x86_64-linux-gnu/libc.so.6", 0));
}

// The process goes on working after its code pages were dropped, and heap data is intact.
TEST(ReleaseMemory, DataSurvivesAndCodeRunsAfterwards) {
  std::vector<std::string> kept;
  for (int i = 0; i < 1000; ++i) kept.push_back("value number " + std::to_string(i));
  { std::vector<std::string> garbage(20000, std::string(100, 'x')); }
  ReleaseMemory(/*startup=*/true);
  ReleaseMemory(/*startup=*/false);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(kept[i], "value number " + std::to_string(i));
}

TEST(ReleaseMemory, FilePagesAtStartAndThenAtMostOnceAMinute) {
  using std::chrono::seconds;
  const auto t0 = std::chrono::steady_clock::time_point() + std::chrono::hours(1);
  EXPECT_TRUE(FileDropDue(/*startup=*/true, t0, std::nullopt));
  EXPECT_TRUE(FileDropDue(/*startup=*/true, t0, t0));
  EXPECT_FALSE(FileDropDue(/*startup=*/false, t0, std::nullopt)) << "not before the start-up one";
  EXPECT_FALSE(FileDropDue(/*startup=*/false, t0 + seconds(10), t0));
  EXPECT_FALSE(FileDropDue(/*startup=*/false, t0 + kFileRedrop - seconds(1), t0));
  EXPECT_TRUE(FileDropDue(/*startup=*/false, t0 + kFileRedrop, t0));
}

}  // namespace
}  // namespace tartan::store

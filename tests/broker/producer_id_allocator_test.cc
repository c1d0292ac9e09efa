#include "broker/cluster/producer_id_allocator.h"

#include <gtest/gtest.h>

#include "storage/file.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::broker {
namespace {

using storage::testing::TempDir;

int64_t AllocateOrDie(ProducerIdAllocator& allocator) {
  auto id = allocator.Allocate();
  EXPECT_TRUE(id.ok()) << id.status();
  return id.value_or(-1);
}

TEST(ProducerIdAllocatorTest, IdsAreNewAfterEveryReopen) {
  TempDir dir;
  int64_t highest = -1;
  for (int run = 0; run < 3; ++run) {
    auto allocator = ProducerIdAllocator::Open(dir.path());
    ASSERT_TRUE(allocator.ok()) << allocator.status();
    for (int i = 0; i < 3; ++i) {
      const int64_t id = AllocateOrDie(**allocator);
      EXPECT_GT(id, highest);
      highest = id;
    }
  }
  // Each open reserved a block and skipped what the previous one left.
  EXPECT_EQ(highest, 2 * ProducerIdAllocator::kBlockSize + 2);
}

TEST(ProducerIdAllocatorTest, TheBlockEndIsOnDiskBeforeItsIdsAreHandedOut) {
  TempDir dir;
  const std::string path = dir.Sub(ProducerIdAllocator::kFileName);
  auto allocator = ProducerIdAllocator::Open(dir.path());
  ASSERT_TRUE(allocator.ok()) << allocator.status();
  EXPECT_EQ(*storage::ReadWholeFile(path), "1000");
  for (int64_t i = 0; i < ProducerIdAllocator::kBlockSize; ++i) {
    ASSERT_EQ(AllocateOrDie(**allocator), i);
  }
  EXPECT_EQ(*storage::ReadWholeFile(path), "1000");
  EXPECT_EQ(AllocateOrDie(**allocator), 1000);
  EXPECT_EQ(*storage::ReadWholeFile(path), "2000");
}

TEST(ProducerIdAllocatorTest, AHandWrittenFileSetsTheNextIdAndBadOnesFailTheOpen) {
  TempDir dir;
  const std::string path = dir.Sub(ProducerIdAllocator::kFileName);
  ASSERT_TRUE(storage::WriteFileAtomically(path, "5000").ok());
  auto allocator = ProducerIdAllocator::Open(dir.path());
  ASSERT_TRUE(allocator.ok()) << allocator.status();
  EXPECT_EQ(AllocateOrDie(**allocator), 5000);

  for (const char* bad : {"", "-3", "12ab", "x"}) {
    ASSERT_TRUE(storage::WriteFileAtomically(path, bad).ok());
    auto refused = ProducerIdAllocator::Open(dir.path());
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss) << "contents '" << bad << "'";
    EXPECT_NE(refused.status().message().find("producer-ids"), absl::string_view::npos);
  }
}

}  // namespace
}  // namespace runnel::broker

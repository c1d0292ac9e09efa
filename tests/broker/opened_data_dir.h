// OpenedDataDir: the storage and topic metadata of one data dir, opened in runneld's order
// (LogManager, TopicTable, PartitionManager), with maintenance left to the test. For broker tests
// that reopen a data dir as a restarted broker would.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "broker/cluster/topic_table.h"
#include "broker/partition/partition_manager.h"
#include "storage/log_manager.h"

namespace runnel::broker::testing {

struct OpenedDataDir {
  std::unique_ptr<storage::LogManager> logs;
  std::optional<TopicTable> topics;
  std::unique_ptr<PartitionManager> partitions;

  // `defaults`: every topic's log config (e.g. small segments, so a test rolls them).
  explicit OpenedDataDir(const std::string& data_dir, storage::LogConfig defaults = {}) {
    storage::LogManagerOptions options;
    options.data_dir = data_dir;
    options.defaults = defaults;
    options.maintenance_interval_ms = 0;  // the test runs the passes
    auto opened = storage::LogManager::Open(options);
    EXPECT_TRUE(opened.ok()) << opened.status();
    logs = *std::move(opened);
    auto table = TopicTable::Open(data_dir);
    EXPECT_TRUE(table.ok()) << table.status();
    topics.emplace(*std::move(table));
    auto manager = PartitionManager::Create(logs.get(), &*topics, {});
    EXPECT_TRUE(manager.ok()) << manager.status();
    partitions = *std::move(manager);
  }
};

}  // namespace runnel::broker::testing

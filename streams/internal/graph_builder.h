// What the DSL writes into while a topology is described: nodes with generated or given names,
// stores and repartition topics. Not thread-safe; one per StreamsBuilder.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "streams/options.h"
#include "streams/topology.h"

namespace runnel::streams::internal {

class GraphBuilder {
 public:
  // "<PREFIX>-0000000007": Kafka Streams' generated names, numbered in creation order.
  std::string NewName(std::string_view prefix);
  // Adds `node` below `parents` (which must exist). An empty or taken name is an error,
  // reported by Build().
  void AddNode(NodeSpec node, const std::vector<std::string>& parents);
  void AddStore(StoreSpec store);
  void AddRepartitionTopic(RepartitionTopicSpec topic);
  // A store name is unique among task stores and global stores.
  void AddGlobalStore(GlobalStoreSpec global);
  // Declares that the source topics upstream of `nodes` (a node that is a source counts itself)
  // are joined and must be co-partitioned; resolved to topics by Build().
  void AddCopartitionGroup(std::vector<std::string> nodes);
  // Records the first error of a DSL call (DSL calls return streams, not statuses).
  void Fail(absl::Status status);

  absl::StatusOr<Topology> Build() const;

  // The store type of aggregations whose Materialized names none (default.dsl.store).
  StoreType default_store_type() const { return default_store_type_; }
  void set_default_store_type(StoreType type) { default_store_type_ = type; }

 private:
  StoreType default_store_type_ = StoreType::kRocksDb;
  int64_t next_index_ = 0;
  Topology topology_;
  std::vector<std::vector<std::string>> copartition_nodes_;
  absl::Status error_;
};

}  // namespace runnel::streams::internal

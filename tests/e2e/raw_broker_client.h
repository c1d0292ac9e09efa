// RawBrokerClient: runneld's gRPC API called directly, one request at a time, with no retries —
// for process-level tests that must see exactly what the broker answers (the client library would
// retry a retriable error). Every call has a 20 s deadline.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runnel/v1/admin.grpc.pb.h"
#include "runnel/v1/broker.grpc.pb.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::testing {

class RawBrokerClient {
 public:
  explicit RawBrokerClient(const std::string& address)
      : channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        broker_(v1::Broker::NewStub(channel_)),
        admin_(v1::Admin::NewStub(channel_)) {}

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return context;
  }

  v1::Broker::Stub& broker() { return *broker_; }

  // Creates a topic (failing the test unless the broker says NONE).
  void CreateTopic(const std::string& name, int partitions = 1,
                   const std::map<std::string, std::string>& configs = {}) {
    v1::CreateTopicsRequest request;
    v1::NewTopic* topic = request.add_topics();
    topic->set_name(name);
    topic->set_partitions(partitions);
    topic->mutable_configs()->insert(configs.begin(), configs.end());
    v1::CreateTopicsResponse response;
    ASSERT_TRUE(admin_->CreateTopics(Context().get(), request, &response).ok());
    ASSERT_EQ(response.topics(0).error().code(), v1::NONE) << response.topics(0).error().message();
  }

  // One request with one partition, on a stream of its own. A broker that does not answer (it
  // went away) gives a result with UNKNOWN_SERVER_ERROR and the stream's status as message.
  v1::PartitionProduceResult Produce(const std::string& topic, std::string records,
                                     v1::Acks acks = v1::ACKS_ALL, int32_t partition = 0,
                                     int32_t timeout_ms = 0) {
    v1::ProduceRequest request;
    request.set_id(1);
    request.set_acks(acks);
    request.set_timeout_ms(timeout_ms);
    v1::PartitionBatches* p = request.add_partitions();
    p->set_topic(topic);
    p->set_partition(partition);
    p->set_records(std::move(records));
    auto context = Context();
    auto stream = broker_->Produce(context.get());
    stream->Write(request);
    stream->WritesDone();
    v1::ProduceResponse response;
    const bool answered = stream->Read(&response);
    const grpc::Status status = stream->Finish();
    if (answered && response.partitions_size() > 0) return response.partitions(0);
    v1::PartitionProduceResult failed;
    failed.set_base_offset(-1);
    failed.mutable_error()->set_code(v1::UNKNOWN_SERVER_ERROR);
    failed.mutable_error()->set_message("no answer: " + status.error_message());
    return failed;
  }

  int64_t LatestOffset(const std::string& topic, int32_t partition = 0) {
    const v1::PartitionOffset latest = ListLatest(topic, partition);
    EXPECT_EQ(latest.error().code(), v1::NONE) << latest.error().message();
    return latest.offset();
  }

  // The broker's answer to a ListOffsets of the partition's latest offset, error included (one
  // with UNKNOWN_SERVER_ERROR when it does not answer).
  v1::PartitionOffset ListLatest(const std::string& topic, int32_t partition = 0) {
    v1::ListOffsetsRequest request;
    v1::PartitionOffsetQuery* q = request.add_partitions();
    q->set_topic(topic);
    q->set_partition(partition);
    q->set_timestamp(-1);
    v1::ListOffsetsResponse response;
    const grpc::Status status = broker_->ListOffsets(Context().get(), request, &response);
    if (status.ok() && response.partitions_size() == 1) return response.partitions(0);
    v1::PartitionOffset failed;
    failed.set_offset(-1);
    failed.mutable_error()->set_code(v1::UNKNOWN_SERVER_ERROR);
    failed.mutable_error()->set_message("no answer: " + status.error_message());
    return failed;
  }

  // One fetch of the partition from `offset` (up to 1 MiB), waiting up to `max_wait_ms` for data.
  v1::PartitionFetchResult Fetch(const std::string& topic, int64_t offset, int32_t partition = 0,
                                 int32_t max_wait_ms = 0) {
    v1::FetchRequest request;
    request.set_max_bytes(1 << 20);
    request.set_max_wait_ms(max_wait_ms);
    v1::PartitionFetch* p = request.add_partitions();
    p->set_topic(topic);
    p->set_partition(partition);
    p->set_offset(offset);
    p->set_max_bytes(1 << 20);
    v1::FetchResponse response;
    const grpc::Status status = broker_->Fetch(Context().get(), request, &response);
    if (!status.ok() || response.partitions_size() == 0) {
      v1::PartitionFetchResult failed;
      failed.mutable_error()->set_code(v1::UNKNOWN_SERVER_ERROR);
      failed.mutable_error()->set_message("no answer: " + status.error_message());
      return failed;
    }
    return response.partitions(0);
  }

  // The values of every record in the partition (it is small: one fetch holds it).
  std::vector<std::string> Values(const std::string& topic, int32_t partition = 0) {
    const v1::PartitionFetchResult result = Fetch(topic, 0, partition);
    EXPECT_EQ(result.error().code(), v1::NONE) << result.error().message();
    std::vector<std::string> values;
    for (const auto& r : storage::testing::DecodeAll(result.records())) {
      values.push_back(r.value.value_or("<null>"));
    }
    return values;
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Broker::Stub> broker_;
  std::unique_ptr<v1::Admin::Stub> admin_;
};

}  // namespace runnel::testing

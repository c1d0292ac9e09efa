// ProduceLink: one pipelined Produce stream (broker.proto) from the producer to one broker, and
// the thread that reads its answers (client-internal, not installed). The Producer keeps one per
// partition leader it sends to, as Kafka's producer keeps one connection per broker node; which
// batches travel on which link, and what happens to them when a link breaks, is the Producer's.
//
// Ownership and threads: the stream and its reader thread live as long as the link. Answers are
// handed to `on_response` on the reader thread, in the order they arrive; `on_end` runs once on
// the reader thread when the stream ends (the broker went away, answered with an error, or the
// link was cancelled). Write is called by one thread at a time (the producer's sender); Cancel by
// any thread. The destructor cancels the stream and joins the reader, so it must not run while
// the caller holds a lock that the callbacks take.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "runnel/v1/broker.grpc.pb.h"

namespace runnel::client::internal {

class ProduceLink {
 public:
  using OnResponse = std::function<void(const v1::ProduceResponse&)>;
  using OnEnd = std::function<void()>;

  // Opens the stream to `address` on `channel` and starts the reader thread.
  ProduceLink(std::string address, const std::shared_ptr<grpc::Channel>& channel,
              OnResponse on_response, OnEnd on_end);
  ~ProduceLink();
  ProduceLink(const ProduceLink&) = delete;
  ProduceLink& operator=(const ProduceLink&) = delete;

  // Sends one request; false when the stream is broken (on_end runs, or has run).
  bool Write(const v1::ProduceRequest& request);
  // Ends the stream: a Write blocked on a broker that stopped reading returns, the reader sees
  // the end. Thread-safe; idempotent.
  void Cancel() { context_.TryCancel(); }
  const std::string& address() const { return address_; }

 private:
  const std::string address_;
  v1::Broker::Stub stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::ProduceRequest, v1::ProduceResponse>> stream_;
  std::thread reader_;
};

}  // namespace runnel::client::internal

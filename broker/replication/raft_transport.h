// RaftTransport: carries Raft messages between brokers (proto/runnel/v1/raft.proto). One
// bidirectional gRPC stream per broker pair, opened by the broker with the lower node id (and
// reopened after a loss, with backoff); both ends write on it. Messages queued for a peer while
// its stream is busy are merged into the next write, so everything one broker has for another at a
// moment (a tick's heartbeats of every group) travels as one RaftBatch. Each peer has its own
// queue, bounded in bytes: a slow or dead peer loses its own messages (Raft resends) and never
// holds up another's.
//
// The first batch on a stream is a hello each way (node id, cluster id, incarnation); a peer of
// another cluster, or one that is not who the address says, is refused with a clear error on both
// sides. A peer's new stream replaces its old one when it comes from the same process (a
// reconnect); from another process while the old stream is up, it is refused: two brokers with
// one --node-id would otherwise take turns being that node to their peers (and to Raft). gRPC
// keepalive (every 5 s, 5 s to answer) ends a stream whose peer vanished without closing it, so
// a node restarted after such a loss is let in within seconds.
//
// Thread-safety: Send may be called from any thread; the receive handler runs on gRPC threads
// (it must only hand the messages on).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "raft/types.h"
#include "runnel/v1/raft.grpc.pb.h"

namespace grpc {
class ServerBuilder;
}  // namespace grpc

namespace runnel::broker {

struct RaftPeer {
  raft::NodeId id = raft::kNoNode;
  std::string address;  // HOST:PORT of its inter-broker listener
};

// Parses `--peers`: "ID@HOST:PORT,..." (ids >= 0, each once). InvalidArgument naming the entry.
absl::StatusOr<std::vector<RaftPeer>> ParsePeers(std::string_view text);

// What one write merges from a peer's queue (at least one batch), and the largest message either
// end accepts: the inter-broker server must be built with SetMaxReceiveMessageSize at least
// kMaxMessageBytes (ConfigureServer does it).
inline constexpr int64_t kMaxWriteBytes = 4 << 20;
// gRPC keepalive of the inter-broker streams: a ping every kKeepaliveMs, answered within it.
inline constexpr int kKeepaliveMs = 5'000;
inline constexpr int kMaxMessageBytes = 256 << 20;

struct RaftTransportOptions {
  raft::NodeId node_id = raft::kNoNode;
  std::string cluster_id;
  std::string incarnation_id;   // this process's, sent in hellos
  std::vector<RaftPeer> peers;  // every broker; this node's own entry is skipped
  // Per peer: bytes queued and not yet written past which new messages to it are dropped.
  int64_t max_queued_bytes = 64 << 20;
  int reconnect_min_ms = 50;
  int reconnect_max_ms = 2'000;
};

struct RaftTransportStats {
  int64_t batches_sent = 0;
  int64_t messages_sent = 0;
  int64_t messages_dropped = 0;  // queue over max_queued_bytes, or no stream to the peer
  int64_t batches_received = 0;
  int64_t peers_refused = 0;  // hellos of another cluster or node
};

class RaftTransport {
 public:
  // Called with each received batch's messages (of groups this node may or may not host).
  using Handler = std::function<void(raft::NodeId from, v1::RaftBatch batch)>;

  RaftTransport(RaftTransportOptions options, Handler handler);
  ~RaftTransport();  // Stop()

  RaftTransport(const RaftTransport&) = delete;
  RaftTransport& operator=(const RaftTransport&) = delete;

  // Registers the service on the inter-broker gRPC server (before it starts) and raises its
  // message size limit. The server must be shut down before the transport is destroyed.
  void ConfigureServer(grpc::ServerBuilder* builder);
  // Starts dialing the peers with higher ids (after the server is up, so a peer's dial back is
  // answered).
  void Start();
  // Cancels every stream and waits for them to end. Messages still queued are dropped.
  void Stop();

  // Queues `batch.messages` for peer `to` (the other fields are filled in). Dropped, and counted,
  // when there is no stream to `to` or its queue is full.
  void Send(raft::NodeId to, v1::RaftBatch batch);

  RaftTransportStats stats() const;
  // Peers with an open stream that passed the hello.
  std::vector<raft::NodeId> ConnectedPeers() const;

 private:
  class Link;
  class ClientLink;
  class ServerLink;
  class Service;
  struct PeerState;

  // Hello checks: OK or FailedPrecondition naming what differs.
  absl::Status CheckHello(const v1::RaftBatch& hello, raft::NodeId expected_from) const;
  v1::RaftBatch MakeHello(raft::NodeId to) const;
  // A server link was made (registered before any of its callbacks can run).
  void LinkMade(Link* link);
  // A link passed the hello (`incarnation`: the peer's): it replaces any earlier link to that peer
  // from the same incarnation. Unavailable when stopping; AlreadyExists naming both when another
  // incarnation of the peer has a live link.
  absl::Status LinkUp(raft::NodeId peer, const std::string& incarnation, Link* link);
  // A link ended (it deletes itself after this returns).
  void LinkDown(raft::NodeId peer, Link* link, const std::string& why);
  void Deliver(raft::NodeId from, v1::RaftBatch batch);
  void DialLoop();
  void Dial(raft::NodeId peer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RaftTransportOptions options_;
  const Handler handler_;
  std::unique_ptr<Service> service_;

  mutable Mutex mu_;
  std::map<raft::NodeId, std::unique_ptr<PeerState>> peers_ ABSL_GUARDED_BY(mu_);
  std::map<raft::NodeId, Link*> links_ ABSL_GUARDED_BY(mu_);  // up, by peer
  // Of links_: the peer's incarnation, and when the link came up (a link that lived a while resets
  // the peer's redial backoff when it ends; one refused or broken at once does not).
  struct LinkInfo {
    std::string incarnation;
    std::chrono::steady_clock::time_point up_at;
  };
  std::map<raft::NodeId, LinkInfo> link_info_ ABSL_GUARDED_BY(mu_);
  std::set<Link*> live_ ABSL_GUARDED_BY(mu_);  // every link not yet deleted
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  CondVar changed_;
  std::thread dialer_;

  std::atomic<int64_t> batches_sent_{0};
  std::atomic<int64_t> messages_sent_{0};
  std::atomic<int64_t> messages_dropped_{0};
  std::atomic<int64_t> batches_received_{0};
  std::atomic<int64_t> peers_refused_{0};
};

}  // namespace runnel::broker

#include "broker/replication/raft_transport.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <deque>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/check.h"
#include "common/logging.h"

namespace runnel::broker {
namespace {

std::shared_ptr<spdlog::logger> Logger() { return logging::Get("replication"); }

}  // namespace

absl::StatusOr<std::vector<RaftPeer>> ParsePeers(std::string_view text) {
  std::vector<RaftPeer> peers;
  const std::vector<std::string> entries =
      absl::StrSplit(std::string(text), ',', absl::SkipEmpty());
  for (const std::string& entry : entries) {
    const size_t at = entry.find('@');
    RaftPeer peer;
    int64_t id = -1;
    if (at == std::string::npos || !absl::SimpleAtoi(entry.substr(0, at), &id) || id < 0 ||
        id > std::numeric_limits<raft::NodeId>::max() || at + 1 == entry.size() ||
        entry.find(':', at) == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--peers: \"", entry, "\" is not ID@HOST:PORT (ID a node id >= 0)"));
    }
    peer.id = static_cast<raft::NodeId>(id);
    peer.address = entry.substr(at + 1);
    for (const RaftPeer& other : peers) {
      if (other.id == peer.id) {
        return absl::InvalidArgumentError(absl::StrCat("--peers: node ", peer.id,
                                                       " is listed twice (", other.address, " and ",
                                                       peer.address, ")"));
      }
    }
    peers.push_back(std::move(peer));
  }
  return peers;
}

// --- Links ---

// One stream to a peer, either end. Owns the queue of batches waiting to be written; a write
// carries what was queued when it starts, up to kMaxWriteBytes (at least one batch).
//
// Writes start outside gRPC's reactions (Send), so each link holds its call open (a client's
// AddHold; a server's Finish is deferred) until it is broken — the stream ended, failed or is
// being finished — and no write is in flight: only then may gRPC end the call and delete it.
class RaftTransport::Link {
 public:
  Link(RaftTransport* transport, raft::NodeId peer) : transport_(transport), peer_(peer) {}
  virtual ~Link() = default;

  raft::NodeId peer() const { return peer_; }

  // False (nothing queued) when the queue is over its bound or the stream failed.
  bool Enqueue(v1::RaftBatch batch) {
    const int64_t bytes = static_cast<int64_t>(batch.ByteSizeLong());
    {
      MutexLock lock(&mu_);
      if (broken_ ||
          (queued_bytes_ > 0 && queued_bytes_ + bytes > transport_->options_.max_queued_bytes)) {
        return false;
      }
      queued_bytes_ += bytes;
      queue_.push_back(std::move(batch));
    }
    Pump();
    return true;
  }

  virtual void Cancel() = 0;

 protected:
  virtual void Write(const v1::RaftBatch* batch) = 0;
  // The link is broken and no write is in flight: let the call end (once).
  // `status`: the one the first Break was given (a server's Finish status).
  virtual void Release(const grpc::Status& status) = 0;

  void WriteDone(bool ok) {
    bool release = false;
    grpc::Status status;
    {
      MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) broken_ = true;
      release = ReleasableLocked();
      status = final_status_;
    }
    if (release) {
      Release(status);
    } else if (ok) {
      Pump();
    }
  }

  // No more writes; the call is released once the write in flight (if any) is done, with the
  // status of the first Break.
  void Break(const grpc::Status& status = grpc::Status::OK) {
    bool release = false;
    grpc::Status final_status;
    {
      MutexLock lock(&mu_);
      if (!broken_ || !status_set_) {
        if (!status_set_) final_status_ = status;
        status_set_ = true;
      }
      broken_ = true;
      release = ReleasableLocked();
      final_status = final_status_;
    }
    if (release) Release(final_status);
  }

  void Pump() {
    {
      MutexLock lock(&mu_);
      if (writing_ || broken_ || queue_.empty()) return;
      out_ = std::move(queue_.front());
      int64_t bytes = static_cast<int64_t>(out_.ByteSizeLong());
      size_t taken = 1;
      for (; taken < queue_.size(); ++taken) {
        const int64_t next = static_cast<int64_t>(queue_[taken].ByteSizeLong());
        if (bytes + next > kMaxWriteBytes) break;
        bytes += next;
        for (v1::GroupMessage& m : *queue_[taken].mutable_messages()) {
          out_.add_messages()->Swap(&m);
        }
      }
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(taken));
      queued_bytes_ = std::max<int64_t>(0, queued_bytes_ - bytes);
      writing_ = true;
    }
    transport_->batches_sent_.fetch_add(1, std::memory_order_relaxed);
    transport_->messages_sent_.fetch_add(out_.messages_size(), std::memory_order_relaxed);
    Write(&out_);
  }

  RaftTransport* const transport_;
  raft::NodeId peer_;  // a server link learns it from the hello

 private:
  bool ReleasableLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!broken_ || writing_ || released_) return false;
    released_ = true;
    return true;
  }

  Mutex mu_;
  std::deque<v1::RaftBatch> queue_ ABSL_GUARDED_BY(mu_);
  int64_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status final_status_ ABSL_GUARDED_BY(mu_);
  bool status_set_ ABSL_GUARDED_BY(mu_) = false;
  v1::RaftBatch out_;  // the write in flight (only touched by the writer while writing_)
};

// The stream this broker opened to a peer with a higher id.
class RaftTransport::ClientLink final
    : public Link,
      public grpc::ClientBidiReactor<v1::RaftBatch, v1::RaftBatch> {
 public:
  ClientLink(RaftTransport* transport, raft::NodeId peer, v1::Raft::Stub* stub)
      : Link(transport, peer) {
    stub->async()->Exchange(&context_, this);
    AddHold();  // released by Release()
    StartRead(&in_);
    Enqueue(transport->MakeHello(peer));
    StartCall();
  }

  void Cancel() override { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the stream ended: OnDone follows once the call is released
      Break();
      return;
    }
    if (!hello_seen_) {
      if (absl::Status hello = transport_->CheckHello(in_, peer_); !hello.ok()) {
        transport_->peers_refused_.fetch_add(1, std::memory_order_relaxed);
        why_ = std::string(hello.message());
        Logger()->error("raft stream to node {}: {}", peer_, why_);
        context_.TryCancel();
        Break();
        return;
      }
      hello_seen_ = true;
      if (absl::Status up = transport_->LinkUp(peer_, in_.incarnation_id(), this); !up.ok()) {
        context_.TryCancel();
        Break();
        return;
      }
    } else {
      transport_->Deliver(peer_, std::move(in_));
    }
    in_.Clear();
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override { WriteDone(ok); }

  void OnDone(const grpc::Status& status) override {
    transport_->LinkDown(peer_, this,
                         why_.empty() ? absl::StrCat(status.error_message(), " (",
                                                     static_cast<int>(status.error_code()), ")")
                                      : why_);
    delete this;
  }

 private:
  void Write(const v1::RaftBatch* batch) override { StartWrite(batch); }
  void Release(const grpc::Status& /*status*/) override { RemoveHold(); }

  grpc::ClientContext context_;
  v1::RaftBatch in_;
  bool hello_seen_ = false;
  std::string why_;
};

// A stream a peer with a lower id opened to this broker.
class RaftTransport::ServerLink final
    : public Link,
      public grpc::ServerBidiReactor<v1::RaftBatch, v1::RaftBatch> {
 public:
  ServerLink(RaftTransport* transport, grpc::CallbackServerContext* context)
      : Link(transport, raft::kNoNode), context_(context) {
    transport->LinkMade(this);
    StartRead(&in_);
  }

  void Cancel() override { context_->TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      FinishOnce(grpc::Status::OK);
      return;
    }
    if (peer_ == raft::kNoNode) {
      if (absl::Status hello = transport_->CheckHello(in_, raft::kNoNode); !hello.ok()) {
        transport_->peers_refused_.fetch_add(1, std::memory_order_relaxed);
        Logger()->error("raft stream from {}: {}", context_->peer(), std::string(hello.message()));
        FinishOnce(
            grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, std::string(hello.message())));
        return;
      }
      peer_ = in_.from_node();
      Enqueue(transport_->MakeHello(peer_));
      if (absl::Status up = transport_->LinkUp(peer_, in_.incarnation_id(), this); !up.ok()) {
        transport_->peers_refused_.fetch_add(absl::IsAlreadyExists(up) ? 1 : 0,
                                             std::memory_order_relaxed);
        if (absl::IsAlreadyExists(up)) {
          Logger()->error("raft stream from {}: {}", context_->peer(), std::string(up.message()));
        }
        FinishOnce(grpc::Status(absl::IsAlreadyExists(up) ? grpc::StatusCode::FAILED_PRECONDITION
                                                          : grpc::StatusCode::UNAVAILABLE,
                                std::string(up.message())));
        return;
      }
    } else {
      transport_->Deliver(peer_, std::move(in_));
    }
    in_.Clear();
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override { WriteDone(ok); }
  void OnCancel() override {}

  void OnDone() override {
    transport_->LinkDown(peer_, this, "the peer closed the stream");
    delete this;
  }

 private:
  void Write(const v1::RaftBatch* batch) override { StartWrite(batch); }
  // Finish only once no write is in flight (none may start after it).
  void Release(const grpc::Status& status) override { Finish(status); }

  // Ends the call with `status` (the first one given), once the write in flight is done.
  void FinishOnce(const grpc::Status& status) {
    if (finishing_.exchange(true)) return;
    Break(status);
  }

  grpc::CallbackServerContext* const context_;
  v1::RaftBatch in_;
  std::atomic<bool> finishing_{false};
};

class RaftTransport::Service final : public v1::Raft::CallbackService {
 public:
  explicit Service(RaftTransport* transport) : transport_(transport) {}

  grpc::ServerBidiReactor<v1::RaftBatch, v1::RaftBatch>* Exchange(
      grpc::CallbackServerContext* context) override {
    return new ServerLink(transport_, context);
  }

 private:
  RaftTransport* const transport_;
};

struct RaftTransport::PeerState {
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Raft::Stub> stub;
  bool dialed = false;  // a client link exists
  int backoff_ms = 0;
  std::chrono::steady_clock::time_point next_dial;
};

// --- Transport ---

RaftTransport::RaftTransport(RaftTransportOptions options, Handler handler)
    : options_(std::move(options)),
      handler_(std::move(handler)),
      service_(std::make_unique<Service>(this)) {
  MutexLock lock(&mu_);
  for (const RaftPeer& peer : options_.peers) {
    if (peer.id == options_.node_id) continue;
    auto state = std::make_unique<PeerState>();
    state->address = peer.address;
    state->backoff_ms = options_.reconnect_min_ms;
    peers_[peer.id] = std::move(state);
  }
}

RaftTransport::~RaftTransport() { Stop(); }

void RaftTransport::ConfigureServer(grpc::ServerBuilder* builder) {
  builder->RegisterService(service_.get());
  builder->SetMaxReceiveMessageSize(kMaxMessageBytes);
  // gRPC binds with SO_REUSEPORT unless told not to: a second process on this port would start
  // and take a share of the peers' connections.
  builder->AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Pings a peer, so a stream whose peer vanished without closing it (a machine lost, a cable
  // pulled) ends, and accepts the peers' pings at that rate.
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveMs);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveMs);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                              kKeepaliveMs / 2);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
}

void RaftTransport::Start() {
  MutexLock lock(&mu_);
  if (started_) return;
  started_ = true;
  dialer_ = std::thread([this] { DialLoop(); });
}

void RaftTransport::Stop() {
  {
    MutexLock lock(&mu_);
    if (stopping_ && live_.empty()) return;
    stopping_ = true;
    for (Link* link : live_) link->Cancel();
    changed_.SignalAll();
    // Links point at this transport: every one must be gone before it is. A cancelled call ends
    // once gRPC processes the cancellation, whatever the peer does.
    for (int i = 1; !live_.empty(); ++i) {
      changed_.WaitWithTimeout(&mu_, std::chrono::milliseconds(50));
      if (i % 100 == 0) {
        Logger()->warn("raft transport: {} streams still ending after {} s", live_.size(), i / 20);
      }
    }
  }
  if (dialer_.joinable()) dialer_.join();
}

void RaftTransport::DialLoop() {
  MutexLock lock(&mu_);
  while (!stopping_) {
    const auto now = std::chrono::steady_clock::now();
    for (auto& [id, peer] : peers_) {
      if (id > options_.node_id && !peer->dialed && now >= peer->next_dial) Dial(id);
    }
    changed_.WaitWithTimeout(&mu_, std::chrono::milliseconds(options_.reconnect_min_ms));
  }
}

void RaftTransport::Dial(raft::NodeId id) {
  PeerState& peer = *peers_[id];
  if (peer.channel == nullptr) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(kMaxMessageBytes);
    args.SetMaxSendMessageSize(kMaxMessageBytes);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, options_.reconnect_min_ms);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, options_.reconnect_max_ms);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveMs);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveMs);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    peer.channel =
        grpc::CreateCustomChannel(peer.address, grpc::InsecureChannelCredentials(), args);
    peer.stub = v1::Raft::NewStub(peer.channel);
  }
  peer.dialed = true;
  // Its callbacks that reach the transport (LinkUp, LinkDown) wait for mu_, held here: it is
  // registered before any of them.
  live_.insert(new ClientLink(this, id, peer.stub.get()));
}

void RaftTransport::LinkMade(Link* link) {
  MutexLock lock(&mu_);
  live_.insert(link);
  if (stopping_) link->Cancel();  // Stop may be waiting for every link to end
}

absl::Status RaftTransport::LinkUp(raft::NodeId peer, const std::string& incarnation, Link* link) {
  MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("the broker is stopping");
  if (auto it = links_.find(peer); it != links_.end() && it->second != link) {
    const std::string& live = link_info_[peer].incarnation;
    if (live != incarnation) {
      return absl::AlreadyExistsError(absl::StrCat(
          "node ", peer, " already has a live raft stream here from another process (incarnation ",
          live, "); this one is incarnation ", incarnation,
          ": two brokers may not share a --node-id (refused until the first one's stream ends)"));
    }
  }
  links_[peer] = link;
  link_info_[peer] = {incarnation, std::chrono::steady_clock::now()};
  Logger()->info("raft stream to node {} is up", peer);
  return absl::OkStatus();
}

void RaftTransport::LinkDown(raft::NodeId peer, Link* link, const std::string& why) {
  MutexLock lock(&mu_);
  live_.erase(link);
  bool lived = false;  // up for a while: the peer was reachable, so redial soon
  if (auto it = links_.find(peer); it != links_.end() && it->second == link) {
    links_.erase(it);
    lived = std::chrono::steady_clock::now() - link_info_[peer].up_at >= std::chrono::seconds(1);
    link_info_.erase(peer);
    if (!stopping_) Logger()->warn("raft stream to node {} ended: {}", peer, why);
  }
  if (auto it = peers_.find(peer);
      it != peers_.end() && peer > options_.node_id && dynamic_cast<ClientLink*>(link) != nullptr) {
    PeerState& state = *it->second;
    state.dialed = false;
    if (lived) state.backoff_ms = options_.reconnect_min_ms;
    state.next_dial =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(state.backoff_ms);
    state.backoff_ms = std::min(state.backoff_ms * 2, options_.reconnect_max_ms);
  }
  changed_.SignalAll();
}

v1::RaftBatch RaftTransport::MakeHello(raft::NodeId to) const {
  v1::RaftBatch hello;
  hello.set_from_node(options_.node_id);
  hello.set_to_node(to);
  hello.set_cluster_id(options_.cluster_id);
  hello.set_incarnation_id(options_.incarnation_id);
  return hello;
}

absl::Status RaftTransport::CheckHello(const v1::RaftBatch& hello,
                                       raft::NodeId expected_from) const {
  if (hello.cluster_id() != options_.cluster_id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "node ", hello.from_node(), " belongs to cluster \"", hello.cluster_id(), "\", this node (",
        options_.node_id, ") to cluster \"", options_.cluster_id, "\""));
  }
  if (hello.to_node() != options_.node_id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "node ", hello.from_node(), " expected node ", hello.to_node(),
        " at this address, which is node ", options_.node_id, ": the --peers lists disagree"));
  }
  if (expected_from != raft::kNoNode && hello.from_node() != expected_from) {
    return absl::FailedPreconditionError(absl::StrCat("the broker at the address of node ",
                                                      expected_from, " is node ", hello.from_node(),
                                                      ": the --peers lists disagree"));
  }
  if (expected_from == raft::kNoNode) {
    MutexLock lock(&mu_);
    auto it = peers_.find(hello.from_node());
    if (it == peers_.end() || hello.from_node() >= options_.node_id) {
      return absl::FailedPreconditionError(absl::StrCat(
          "node ", hello.from_node(), " is not a peer with a lower id in this node's --peers"));
    }
  }
  return absl::OkStatus();
}

void RaftTransport::Deliver(raft::NodeId from, v1::RaftBatch batch) {
  batches_received_.fetch_add(1, std::memory_order_relaxed);
  handler_(from, std::move(batch));
}

void RaftTransport::Send(raft::NodeId to, v1::RaftBatch batch) {
  const int n = batch.messages_size();
  batch.set_from_node(options_.node_id);
  batch.set_to_node(to);
  MutexLock lock(&mu_);
  auto it = links_.find(to);
  if (it == links_.end() || !it->second->Enqueue(std::move(batch))) {
    messages_dropped_.fetch_add(n, std::memory_order_relaxed);
  }
}

RaftTransportStats RaftTransport::stats() const {
  RaftTransportStats s;
  s.batches_sent = batches_sent_.load(std::memory_order_relaxed);
  s.messages_sent = messages_sent_.load(std::memory_order_relaxed);
  s.messages_dropped = messages_dropped_.load(std::memory_order_relaxed);
  s.batches_received = batches_received_.load(std::memory_order_relaxed);
  s.peers_refused = peers_refused_.load(std::memory_order_relaxed);
  return s;
}

std::vector<raft::NodeId> RaftTransport::ConnectedPeers() const {
  MutexLock lock(&mu_);
  std::vector<raft::NodeId> out;
  for (const auto& [id, link] : links_) out.push_back(id);
  return out;
}

}  // namespace runnel::broker

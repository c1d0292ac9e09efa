// runneld: the Runnel broker (docs/ARCHITECTURE.md section 6). Prints
// "runneld ready grpc=HOST:PORT" on stderr once it accepts requests; SIGTERM/SIGINT shut it down
// cleanly (logs closed with clean-shutdown markers). Errors: "error: <what> (<why>)" on stderr,
// exit status 1.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "broker/broker_options.h"
#include "broker/cluster/cluster_identity.h"
#include "broker/cluster/cluster_node.h"
#include "broker/cluster_startup.h"
#include "broker/group/replicated_offsets_appender.h"
#include "broker/server/admin_service.h"
#include "broker/server/broker_service.h"
#include "broker/server/groups_service.h"
#include "common/logging.h"
#include "common/mutex.h"
#include "common/process_tuning.h"

namespace runnel::broker {
namespace {

int Fail(const std::string& what, const absl::Status& why) {
  std::cerr << "error: " << what << " (" << why.message() << ")\n";
  return 1;
}

// An exclusive flock on <data_dir>/.lock for the life of the process: a second runneld on the
// same directory is refused instead of corrupting it.
absl::StatusOr<int> LockDataDir(const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(data_dir, ": ", ec.message()));
  const std::string path = data_dir + "/.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat(path, ": ", std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir ", data_dir, " is in use by another runneld (", path, " is locked)"));
  }
  return fd;
}

// Raises the soft limit on open file descriptors to the hard one (each partition keeps its
// active segment open), and returns the limit now in force.
int64_t RaiseDescriptorLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  const rlim_t before = limit.rlim_cur;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) limit.rlim_cur = before;
  }
  logging::Get("broker")->info("file descriptor limit {} (was {})",
                               static_cast<int64_t>(limit.rlim_cur), static_cast<int64_t>(before));
  return limit.rlim_cur == RLIM_INFINITY ? int64_t{1} << 30 : static_cast<int64_t>(limit.rlim_cur);
}

// The partitions a descriptor limit allows: one descriptor each, keeping an eighth (at least 64)
// for connections, reads of closed segments and metadata files, so that a broker at its
// partition limit still accepts connections and writes metadata.
int64_t PartitionsForDescriptors(int64_t descriptors) {
  const int64_t reserve = std::max<int64_t>(64, descriptors / 8);
  return std::max<int64_t>(1, descriptors - reserve);
}

// `cluster` is null on a single node.
std::string Metrics(const BrokerMetrics& m, storage::LogManager& logs, const ClusterNode* cluster) {
  std::string out;
  // One unlabelled sample with its HELP and TYPE lines.
  auto metric = [&out](const char* type, const char* name, const char* help, int64_t v) {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name, " ",
                    v, "\n");
  };
  auto counter = [&metric](const char* name, const char* help, int64_t v) {
    metric("counter", name, help, v);
  };
  auto gauge = [&metric](const char* name, const char* help, int64_t v) {
    metric("gauge", name, help, v);
  };
  counter("runnel_produce_requests_total", "Produce requests handled.", m.produce_requests);
  counter("runnel_produce_bytes_total", "Record bytes received by Produce.", m.produce_bytes);
  counter("runnel_produce_errors_total", "Partitions of Produce requests that failed.",
          m.produce_errors);
  counter("runnel_fetch_requests_total", "Fetch requests handled.", m.fetch_requests);
  counter("runnel_fetch_bytes_total", "Record bytes returned by Fetch.", m.fetch_bytes);
  counter("runnel_fetch_errors_total", "Fetch responses with a partition error.", m.fetch_errors);
  gauge("runnel_produce_in_flight", "Produce requests read and not answered yet.",
        m.produce_in_flight);
  counter("runnel_fetch_memory_waits_total",
          "Fetches that found the fetch-memory budget spent and waited.", m.fetch_memory_waits);
  gauge("runnel_fetch_parked", "Long-poll fetches waiting for data.", m.fetch_parked);
  counter("runnel_fetch_parked_refused_total",
          "Long-poll fetches refused because --fetch-max-parked were waiting.",
          m.fetch_parked_refused);
  gauge("runnel_fetch_memory_bytes", "Record bytes of fetch responses being built or sent.",
        m.fetch_memory_bytes);
  gauge("runnel_fetch_memory_peak_bytes", "The most fetch-response bytes held at once.",
        m.fetch_memory_peak_bytes);
  m.produce_latency.AppendPrometheus(
      &out, "runnel_produce_latency_seconds",
      "Produce request latency, from the request to its response (acks=all: after the sync).");
  m.fetch_latency.AppendPrometheus(&out, "runnel_fetch_latency_seconds",
                                   "Fetch request latency, long-poll wait included.");
  const storage::DiskUsage disk = logs.disk_space().usage();
  gauge("runnel_data_dir_free_bytes", "Free bytes in the data dir's filesystem.",
        static_cast<int64_t>(disk.free_bytes));
  gauge("runnel_data_dir_total_bytes", "Size of the data dir's filesystem.",
        static_cast<int64_t>(disk.total_bytes));
  gauge("runnel_produce_refused_low_disk",
        "1 while produce is refused: free space is below --log-dir-min-free-bytes.",
        logs.disk_space().CheckForAppends().ok() ? 0 : 1);
  gauge("runnel_log_flush_waiting",
        "Appends waiting for their sync (at most --log-flush-max-waiting).",
        logs.flusher().waiting());
  const auto partitions = logs.List();
  const storage::LogCleanerStats cleaner = logs.cleaner().stats();
  counter("runnel_log_cleaner_rounds_total", "Compaction rounds run by the log cleaner.",
          cleaner.rounds);
  counter("runnel_log_cleaner_read_bytes_total", "Segment bytes the log cleaner read.",
          cleaner.bytes_read);
  counter("runnel_log_cleaner_written_bytes_total", "Cleaned segment bytes swapped in.",
          cleaner.bytes_written);
  counter("runnel_log_cleaner_removed_records_total", "Records compaction removed.",
          cleaner.records_removed);
  gauge("runnel_log_cleaner_peak_map_bytes", "The largest dedupe map a round used.",
        cleaner.peak_map_bytes);
  gauge("runnel_partitions", "Partition logs on this broker.",
        static_cast<int64_t>(partitions.size()));
  absl::StrAppend(&out, "# HELP runnel_log_size_bytes Bytes in a partition's log.\n",
                  "# TYPE runnel_log_size_bytes gauge\n");
  for (const auto& tp : partitions) {
    if (const std::shared_ptr<storage::Log> log = logs.Get(tp)) {
      absl::StrAppend(&out, "runnel_log_size_bytes{topic=\"", tp.topic, "\",partition=\"",
                      tp.partition, "\"} ", log->size_bytes(), "\n");
    }
  }
  if (cluster == nullptr) return out;
  const ClusterStats c = cluster->Stats();
  gauge("runnel_cluster_replicas", "Partitions replicated on this broker.", c.replicas);
  gauge("runnel_cluster_leaders", "Partitions this broker leads.", c.leaders);
  gauge("runnel_cluster_under_replicated_partitions",
        "Partitions led here with fewer replicas in sync than voters.", c.under_replicated);
  gauge("runnel_cluster_offline_partitions",
        "Partitions with no leader known to this broker (an election running, or no quorum).",
        c.offline);
  gauge("runnel_cluster_brokers", "Brokers registered in the cluster.", c.brokers);
  gauge("runnel_cluster_fenced_brokers",
        "Registered brokers the controller fenced (no heartbeat within the session).",
        c.fenced_brokers);
  gauge("runnel_cluster_controller_leader", "1 while this broker is the controller leader.",
        c.controller_leader ? 1 : 0);
  gauge("runnel_cluster_metadata_caught_up",
        "1 once this broker's metadata image has caught up with the controller's.",
        c.metadata_caught_up ? 1 : 0);
  counter("runnel_raft_batches_sent_total", "Inter-broker batches written.",
          c.transport.batches_sent);
  counter("runnel_raft_messages_sent_total", "Raft messages sent to other brokers.",
          c.transport.messages_sent);
  counter("runnel_raft_messages_dropped_total",
          "Raft messages dropped: a peer's queue full, or no stream to it.",
          c.transport.messages_dropped);
  counter("runnel_raft_batches_received_total", "Inter-broker batches received.",
          c.transport.batches_received);
  counter("runnel_raft_peers_refused_total",
          "Inter-broker streams refused: another cluster, another node, or a second process "
          "with a live node's id.",
          c.transport.peers_refused);
  counter("runnel_raft_messages_refused_total",
          "Raft messages refused as malformed or of a group not hosted here.",
          c.raft_messages_refused);
  return out;
}

int Run(int argc, char** argv) {
  // Signals are taken by sigwait below: block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  TuneProcess();

  bool help = false;
  std::string help_text;
  auto options = ParseBrokerOptions(argc, argv, &help, &help_text);
  if (help) {
    std::cout << help_text;
    return 0;
  }
  if (!options.ok()) return Fail("bad command line or config", options.status());
  (void)logging::Init({.level = options->log_level});
  auto log = logging::Get("broker");

  const int64_t descriptors = RaiseDescriptorLimit();
  auto lock_fd = LockDataDir(options->data_dir);
  if (!lock_fd.ok()) return Fail("cannot start", lock_fd.status());

  // A cluster's broker (--peers) takes its topics from the metadata log, mirrored into an
  // in-memory table; a single node keeps them in topics.json. A data dir serves one or the other.
  const bool in_cluster = !options->peers.empty();
  ClusterSetup cluster_setup;
  if (in_cluster) {
    auto setup = SetUpCluster(*options);
    if (!setup.ok()) return Fail("cannot join the cluster", setup.status());
    cluster_setup = *std::move(setup);
  } else if (absl::Status s = CheckSingleNodeDataDir(options->data_dir); !s.ok()) {
    return Fail("cannot start", s);
  }

  // The topic table first, so every log opens with its topic's config, and maintenance starts
  // only once everything is set up (a pass with the defaults could delete a compacted topic's
  // segments by retention).
  auto topics = in_cluster ? absl::StatusOr<TopicTable>(TopicTable::Mirror())
                           : TopicTable::Open(options->data_dir);
  if (!topics.ok()) return Fail("cannot read topic metadata", topics.status());
  storage::LogManagerOptions log_options;
  log_options.data_dir = options->data_dir;
  log_options.defaults = *options->LogDefaults();  // checked by Validate
  log_options.flush_threads = options->log_flush_threads;
  log_options.flush_max_waiting = options->log_flush_max_waiting;
  log_options.min_free_bytes = static_cast<uint64_t>(options->log_dir_min_free_bytes);
  log_options.reserve_bytes = static_cast<uint64_t>(options->log_dir_reserve_bytes);
  log_options.cleaner.dedupe_buffer_bytes =
      static_cast<size_t>(options->log_cleaner_dedupe_buffer_bytes);
  log_options.cleaner.backoff_ms = options->log_cleaner_backoff_ms;
  for (const TopicInfo& topic : topics->List()) {
    auto overrides = storage::ParseLogConfigOverrides(topic.configs);
    if (!overrides.ok()) return Fail("cannot read topic metadata", overrides.status());
    log_options.topic_overrides[topic.name] = *overrides;
  }
  auto logs = storage::LogManager::Open(log_options);
  if (!logs.ok()) return Fail("cannot open the data dir", logs.status());
  // A failed sync or write takes the data dir offline (storage/data_dir_failure.h); with one
  // data dir there is nothing left to serve, so the broker stops, without clean-shutdown markers.
  // (In a cluster the other replicas carry on.) The cluster's controller refusing this broker
  // stops it too.
  Mutex dir_failure_mu;
  absl::Status dir_failure;
  std::string failure_what;
  auto fail_fast = [&](const std::string& what, const absl::Status& error) {
    {
      MutexLock lock(&dir_failure_mu);
      if (!dir_failure.ok()) return;
      dir_failure = error;
      failure_what = what;
    }
    ::kill(::getpid(), SIGTERM);  // taken by the sigwait below
  };
  (*logs)->failure().SetHandler([&](const absl::Status& error) {
    fail_fast(absl::StrCat("data dir ", options->data_dir, " failed"), error);
  });
  auto partitions = PartitionManager::Create(
      logs->get(), &*topics,
      {.auto_create_topics = options->auto_create_topics,
       .num_partitions = options->num_partitions,
       .max_partitions_per_topic = options->max_partitions_per_topic,
       .max_partitions = options->max_partitions > 0 ? options->max_partitions
                                                     : PartitionsForDescriptors(descriptors),
       .producer_state = {.producer_id_expiration_ms = options->producer_id_expiration_ms,
                          .expiration_check_interval_ms =
                              options->producer_id_expiration_check_interval_ms},
       .cluster = in_cluster});
  if (!partitions.ok()) return Fail("cannot open partitions", partitions.status());
  std::unique_ptr<ClusterNode> cluster;
  if (in_cluster) {
    auto node = StartClusterNode(
        *options, std::move(cluster_setup), logs->get(), &(*partitions)->producer_states(),
        [&topics](const MetadataImage& image) {
          std::vector<TopicInfo> list;
          for (const auto& [name, topic] : image.topics()) list.push_back(topic.info);
          topics->Replace(std::move(list));
        },
        [&](const absl::Status& refused) { fail_fast("refused by the cluster", refused); });
    if (!node.ok()) return Fail("cannot join the cluster", node.status());
    cluster = *std::move(node);
  }
  // In a cluster the controller grants producer ids (unique cluster-wide), else the data dir.
  auto producer_ids =
      cluster != nullptr
          ? absl::StatusOr<std::unique_ptr<ProducerIdAllocator>>(ProducerIdAllocator::Remote(
                [node = cluster.get()] { return node->AllocateProducerIds(); }))
          : ProducerIdAllocator::Open(options->data_dir);
  if (!producer_ids.ok()) return Fail("cannot reserve producer ids", producer_ids.status());

  // Before the services and the server, so they outlive the server's shutdown, which waits for
  // the calls running on them. Admin calls apart from the clients' own (a producer's id, a
  // group's coordinator, a topic auto-created): a burst of admin calls waiting for an absent
  // controller does not hold those up.
  BlockingCalls admin_calls(4);
  BlockingCalls client_calls(4);
  BrokerMetrics metrics;
  BrokerIdentity identity(options->node_id);
  BrokerService broker_service(
      partitions->get(), cluster.get(), producer_ids->get(), &metrics, &identity,
      {.produce_max_in_flight = options->produce_max_in_flight,
       .max_uncompressed_batch_bytes = options->max_uncompressed_batch_bytes,
       .fetch = {.threads = options->fetch_threads,
                 .max_bytes = options->fetch_max_bytes,
                 .memory_bytes = options->fetch_memory_bytes,
                 .max_parked = options->fetch_max_parked},
       .blocking = &client_calls});
  AdminService admin_service(partitions->get(), cluster.get(), &identity, &admin_calls);
  // In a cluster, committed offsets and group records go through Raft.
  std::unique_ptr<ReplicatedOffsetsAppender> offsets_appender =
      cluster != nullptr ? std::make_unique<ReplicatedOffsetsAppender>(cluster.get()) : nullptr;
  OffsetStore offsets(partitions->get(), options->offsets_topic_partitions, &Clock::Real(),
                      offsets_appender.get());
  GroupCoordinator coordinator(&*topics, &offsets,
                               {.session_timeout_ms = options->group_session_timeout_ms,
                                .heartbeat_interval_ms = options->group_heartbeat_interval_ms});
  // A single node reads its groups back from its own log. A cluster's broker does not: its
  // replicas of __consumer_offsets may lag, hold an uncommitted tail, or not be hosted here at all;
  // the groups of a partition belong to the broker leading it, which loads them when it takes the
  // partition over (CoordinatorShards).
  if (absl::Status s = cluster == nullptr ? coordinator.Load() : absl::OkStatus(); !s.ok()) {
    return Fail("cannot load consumer groups and committed offsets", s);
  }
  coordinator.Start();
  std::unique_ptr<CoordinatorShards> shards =
      cluster != nullptr
          ? std::make_unique<CoordinatorShards>(cluster.get(), &coordinator, &offsets)
          : nullptr;
  if (shards != nullptr) shards->Start();
  GroupsService groups_service(&coordinator, &offsets, &identity, shards.get(), &client_calls);
  (*logs)->StartMaintenance();
  // Producer state loads in the background: serving need not wait for it.
  (*partitions)->producer_states().Start(logs->get());

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options->grpc_addr, grpc::InsecureServerCredentials(), &port);
  // gRPC binds with SO_REUSEPORT unless told not to: a second broker given this address would
  // start too and take a share of the clients' connections.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.SetMaxSendMessageSize(64 << 20);
  builder.RegisterService(&broker_service);
  builder.RegisterService(&admin_service);
  builder.RegisterService(&groups_service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return Fail("cannot listen", absl::UnavailableError(absl::StrCat(
                                     "gRPC address ", options->grpc_addr, " is not usable")));
  }
  const std::string host = options->grpc_addr.substr(0, options->grpc_addr.rfind(':'));
  identity.set_grpc_addr(options->advertised_grpc_addr.empty() ? absl::StrCat(host, ":", port)
                                                               : options->advertised_grpc_addr);
  if (cluster != nullptr) cluster->SetGrpcAddress(identity.grpc_addr());

  httplib::Server http;
  std::atomic<bool> ready{false};
  http.Get("/healthz", [&ready, &logs](const httplib::Request&, httplib::Response& res) {
    if (!ready) {
      res.status = 503;
      res.set_content("starting\n", "text/plain");
      return;
    }
    // Serving, but not taking writes: produce is refused until space is freed.
    if (absl::Status low = (*logs)->disk_space().CheckForAppends(); !low.ok()) {
      res.status = 503;
      res.set_content(absl::StrCat("degraded: ", low.message(), "\n"), "text/plain");
      return;
    }
    res.status = 200;
    res.set_content("ok\n", "text/plain");
  });
  http.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(Metrics(metrics, **logs, cluster.get()), "text/plain; version=0.0.4");
  });
  const std::string http_host = options->http_addr.substr(0, options->http_addr.rfind(':'));
  const int http_port =
      std::atoi(options->http_addr.substr(options->http_addr.rfind(':') + 1).c_str());
  const int bound_http = http_port == 0
                             ? http.bind_to_any_port(http_host)
                             : (http.bind_to_port(http_host, http_port) ? http_port : -1);
  if (bound_http < 0) {
    server->Shutdown();
    broker_service.JoinFetchThreads();
    return Fail("cannot listen", absl::UnavailableError(absl::StrCat(
                                     "HTTP address ", options->http_addr, " is not usable")));
  }
  std::thread http_thread([&http] { http.listen_after_bind(); });

  ready = true;
  log->info("serving gRPC on {}:{}, HTTP on {}:{}, data in {}", host, port, http_host, bound_http,
            options->data_dir);
  std::cerr << "runneld ready grpc=" << host << ":" << port << std::endl;

  int sig = 0;
  sigwait(&signals, &sig);
  const absl::Status failed = [&] {
    MutexLock lock(&dir_failure_mu);
    return dir_failure;
  }();
  if (failed.ok()) {
    log->info("signal {}: shutting down", sig);
  } else {
    log->critical("{}: stopping without a clean shutdown", failure_what);
  }
  ready = false;
  // A clean stop hands this broker's leaderships to in-sync replicas first, while it still
  // serves (its clients are told NOT_LEADER and move), so the partitions barely pause.
  if (cluster != nullptr && failed.ok()) cluster->HandOver(std::chrono::seconds(5));
  broker_service.StopLongPolls();
  // Replication stops first: produce requests waiting for a commit are answered (Unavailable, so
  // their producers retry on the next leader), and none waits past the server's grace below.
  if (shards != nullptr) shards->Stop();
  if (cluster != nullptr) cluster->Stop();
  // Calls in flight get up to 2 s; gRPC also holds shutdown until this deadline while clients
  // keep connections open, then cancels what is left.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  // Their threads may still be inside a call's Finish: joined before the server goes.
  admin_calls.Stop();
  client_calls.Stop();
  broker_service.JoinFetchThreads();
  log->info("gRPC server stopped");
  http.stop();
  http_thread.join();
  if (!failed.ok()) {
    // No snapshots and no clean-shutdown markers: the next start scans and recovers.
    return Fail(failure_what, failed);
  }
  // No appends any more, so the snapshots cover every idempotent batch. A failed one still lets
  // the logs close cleanly: the old snapshot (or none) stays valid, the next start scans more.
  coordinator.Stop();  // expiry writes group records: none after the logs close
  (*partitions)->producer_states().Stop();
  const absl::Status snapshots = (*partitions)->producer_states().WriteSnapshots();
  const absl::Status closed = (*logs)->Close();
  if (!closed.ok()) return Fail("shutdown", closed);
  if (!snapshots.ok()) return Fail("shutdown", snapshots);
  log->info("stopped cleanly");
  return 0;
}

}  // namespace
}  // namespace runnel::broker

int main(int argc, char** argv) { return runnel::broker::Run(argc, argv); }

#include "streams/internal/stream_task.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "streams/state/caching_store.h"

namespace runnel::streams {

void Cancellable::Cancel() { context_->CancelPunctuation(id_); }

namespace internal {

KeyValueStore* TaskContext::key_value_store(const std::string& name) {
  auto it = kv_stores_.find(name);
  return it == kv_stores_.end() ? nullptr : it->second.get();
}

WindowStore* TaskContext::window_store(const std::string& name) {
  auto it = window_stores_.find(name);
  return it == window_stores_.end() ? nullptr : it->second.get();
}

SessionStore* TaskContext::session_store(const std::string& name) {
  auto it = session_stores_.find(name);
  return it == session_stores_.end() ? nullptr : it->second.get();
}

KeyValueStore* TaskContext::global_store(const std::string& name) {
  if (env_.global_stores == nullptr) return nullptr;
  auto it = env_.global_stores->find(name);
  return it == env_.global_stores->end() ? nullptr : it->second;
}

absl::Status TaskContext::OnUndecodable(const RawRecord& raw, const char* what,
                                        const absl::Status& why) {
  const ErrorRecord record{.topic = topic_,
                           .partition = partition_,
                           .offset = offset_,
                           .key = raw.key,
                           .value = raw.value,
                           .timestamp = raw.timestamp};
  const absl::Status error = absl::InvalidArgumentError(absl::StrCat(
      "record ", Where(record), ": cannot deserialize its ", what, ": ", why.message()));
  if (env_.deserialization_handler &&
      env_.deserialization_handler(task_id_, record, error) == HandlerResponse::kContinue) {
    ++metrics_.dropped_records;
    return absl::OkStatus();
  }
  return error;
}

void TaskContext::SetFlushListener(const std::string& store, KeyValueFlushListener listener) {
  kv_listeners_[store] = std::move(listener);
}

void TaskContext::SetFlushListener(const std::string& store, WindowFlushListener listener) {
  window_listeners_[store] = std::move(listener);
}

absl::StatusOr<Cancellable> TaskContext::Schedule(const std::string& owner, int64_t interval_ms,
                                                  PunctuationType type, Punctuator punctuator) {
  if (interval_ms < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(owner, ": punctuation interval ", interval_ms, " ms; the smallest is 1 ms"));
  }
  if (!punctuator) return absl::InvalidArgumentError(owner + ": the punctuator is empty");
  PunctuationSchedule schedule;
  schedule.owner = owner;
  schedule.type = type;
  schedule.interval_ms = interval_ms;
  // As Kafka Streams: stream time aligned to 0 (fires with the first record), wall-clock time
  // one interval from now.
  schedule.next = type == PunctuationType::kStreamTime ? 0 : wall_clock_ms() + interval_ms;
  schedule.punctuator = std::move(punctuator);
  const int64_t id = next_punctuation_id_++;
  punctuations_.emplace(id, std::move(schedule));
  return Cancellable(this, id);
}

void TaskContext::CancelPunctuation(int64_t id) { punctuations_.erase(id); }

absl::Status TaskContext::RemoveEmitted(const std::string& name, std::string_view key) {
  KeyValueStore* store = key_value_store(name);
  if (store == nullptr) return absl::InternalError("no store " + name);
  const StoreSpec& spec = topology_->stores().at(name);
  // A record cache would send the tombstone at its own flush, before the emission is delivered,
  // or drop it.
  if (spec.caching) return absl::InternalError("RemoveEmitted on " + name + ", a cached store");
  if (changelog_sink_ != nullptr && spec.logging) {
    changelog_sink_->HoldNextDelete(name, std::string(key));
  }
  return store->Delete(key);
}

void TaskChangelogSink::HoldNextDelete(const std::string& store_name, std::string key) {
  announced_[store_name].insert(std::move(key));
}

void TaskChangelogSink::Send(const std::string& store_name, const ChangelogRecord& record) {
  if (auto announced = announced_.find(store_name); announced != announced_.end()) {
    if (announced->second.erase(record.key) > 0 && !record.value.has_value()) {
      held_[store_name].insert_or_assign(record.key, record);
      return;
    }
  }
  if (record.value.has_value()) {
    if (auto held = held_.find(store_name); held != held_.end()) held->second.erase(record.key);
  }
  SendNow(store_name, record);
}

void TaskChangelogSink::SendHeld() {
  for (auto& [store_name, tombstones] : held_) {
    for (const auto& [key, record] : tombstones) SendNow(store_name, record);
  }
  held_.clear();
}

void TaskChangelogSink::SendNow(const std::string& store_name, const ChangelogRecord& record) {
  if (!error_.ok()) return;
  error_ = collector_->Send(Topology::ChangelogTopic(application_id_, store_name), partition_,
                            RawRecord{record.key, record.value, record.timestamp});
}

absl::StatusOr<std::unique_ptr<StreamTask>> StreamTask::Create(const Topology* topology,
                                                               int32_t subtopology,
                                                               int32_t partition,
                                                               TaskEnvironment env) {
  if (subtopology < 0 || subtopology >= static_cast<int32_t>(topology->subtopologies().size())) {
    return absl::InvalidArgumentError(absl::StrCat("no sub-topology ", subtopology));
  }
  std::unique_ptr<StreamTask> task(new StreamTask(
      topology, std::move(env), absl::StrCat(subtopology, "_", partition), partition));
  const Topology::Subtopology& s = topology->subtopologies()[subtopology];
  RETURN_IF_ERROR(task->OpenStores(s));
  RETURN_IF_ERROR(task->CreateNodes(s));
  if (const int64_t idle = task->context_.env_.idle_close_ms; idle > 0) {
    // Checked at every wall-clock pass: the 1 ms interval makes each pass due.
    StreamTask* t = task.get();
    RETURN_IF_ERROR(task->context_
                        .Schedule("window.idle.close.ms", 1, PunctuationType::kWallClockTime,
                                  [t](int64_t now) { return t->AdvanceIdleStreamTime(now); })
                        .status());
  }
  return task;
}

StreamTask::~StreamTask() { Close(); }

absl::Status StreamTask::OpenStores(const Topology::Subtopology& subtopology) {
  TaskContext& c = context_;
  changelog_sink_ =
      std::make_unique<TaskChangelogSink>(c.env_.collector, c.env_.application_id, c.partition_);
  TaskChangelogSink* sink = changelog_sink_.get();
  c.changelog_sink_ = sink;
  auto now = [&c] { return c.timestamp_; };
  // Restores store `name` from `changelog` (`apply` takes its records in batches) up to the end
  // offset its last commit recorded (TaskEnvironment::restore_until; to the end without one).
  // Each key of the records past there — written after the last commit by an instance that died
  // — is written back to its restored value (`committed`; a tombstone when it has none), so the
  // changelog ends in the committed state again.
  using Batch = std::vector<ChangelogRecord>;
  using Committed = std::function<absl::StatusOr<std::optional<std::string>>(const std::string&)>;
  const auto restore = [this, &c, sink](const std::string& name, const std::string& changelog,
                                        const std::function<absl::Status(const Batch&)>& apply,
                                        const Committed& committed) -> absl::Status {
    auto until = c.env_.restore_until.find(changelog);
    ASSIGN_OR_RETURN(
        restored_changelog_ends_[changelog],
        c.env_.changelog_reader->Restore(
            changelog, c.partition_, until == c.env_.restore_until.end() ? -1 : until->second,
            [&](const Batch& batch) {
              c.metrics_.restored_records += static_cast<int64_t>(batch.size());
              return apply(batch);
            },
            [&](const std::vector<std::string>& keys) -> absl::Status {
              std::set<std::string> done;
              for (const std::string& key : keys) {
                if (!done.insert(key).second) continue;
                ASSIGN_OR_RETURN(std::optional<std::string> value, committed(key));
                sink->Send(name, ChangelogRecord{key, std::move(value), c.env_.wall_clock_ms()});
              }
              c.metrics_.uncommitted_changelog_keys += static_cast<int64_t>(done.size());
              return sink->TakeError();
            }));
    return absl::OkStatus();
  };
  for (const std::string& name : subtopology.stores) {
    const internal::StoreSpec& spec = topology_->stores().at(name);
    std::string dir;
    if (spec.persistent) {
      if (c.env_.state_dir.empty()) {
        return absl::FailedPreconditionError(
            absl::StrCat("store ", name, " is persistent but no state.dir is set"));
      }
      dir = (std::filesystem::path(c.env_.state_dir) / c.env_.application_id / c.task_id_ /
             "rocksdb" / name)
                .string();
      // Without a checkpoint of how far the local copy has got, the changelog is the truth:
      // start from nothing and restore all of it.
      std::error_code ec;
      if (spec.logging) std::filesystem::remove_all(dir, ec);
      std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
      if (ec) {
        return absl::InternalError(
            absl::StrCat("store ", name, ": cannot create ", dir, ": ", ec.message()));
      }
    }
    const std::string changelog = Topology::ChangelogTopic(c.env_.application_id, name);
    const size_t cache_bytes = spec.caching ? c.env_.cache_max_bytes : 0;
    if (spec.kind == internal::StoreSpec::Kind::kKeyValue) {
      std::unique_ptr<KeyValueStore> store;
      if (spec.persistent) {
        // A changelogged store is restored into an empty directory: its WAL would save nothing.
        ASSIGN_OR_RETURN(store, OpenRocksDbKeyValueStore(name, dir, !spec.logging));
      } else {
        store = NewInMemoryKeyValueStore(name);
      }
      if (spec.logging && c.env_.changelog_reader != nullptr) {
        RETURN_IF_ERROR(restore(
            name, changelog, [&](const Batch& batch) { return RestoreKeyValue(*store, batch); },
            [&](const std::string& key) { return store->Get(key); }));
      }
      if (spec.logging) store = LoggedKeyValueStore(std::move(store), sink, now);
      store = CachingKeyValueStore(
          std::move(store), cache_bytes,
          [&c, name](const std::string& key, const std::optional<std::string>& new_value,
                     const std::optional<std::string>& old_value) {
            auto it = c.kv_listeners_.find(name);
            if (it == c.kv_listeners_.end() || !c.listener_error_.ok()) return;
            c.listener_error_ = it->second(key, new_value, old_value);
          });
      c.kv_stores_[name] = std::move(store);
    } else if (spec.kind == internal::StoreSpec::Kind::kSession) {
      std::unique_ptr<SessionStore> store;
      if (spec.persistent) {
        ASSIGN_OR_RETURN(store,
                         OpenRocksDbSessionStore(name, dir, spec.retention_ms, !spec.logging));
      } else {
        store = NewInMemorySessionStore(name, spec.retention_ms);
      }
      if (spec.logging && c.env_.changelog_reader != nullptr) {
        RETURN_IF_ERROR(restore(
            name, changelog, [&](const Batch& batch) { return RestoreSession(*store, batch); },
            [&](const std::string& key) -> absl::StatusOr<std::optional<std::string>> {
              ASSIGN_OR_RETURN(SessionKeyParts parts, SplitSessionKey(key));
              return store->FetchSession(parts.key, parts.start, parts.end);
            }));
      }
      if (spec.logging) store = LoggedSessionStore(std::move(store), sink, now);
      c.session_stores_[name] = std::move(store);
    } else {
      std::unique_ptr<WindowStore> store;
      if (spec.persistent) {
        ASSIGN_OR_RETURN(store,
                         OpenRocksDbWindowStore(name, dir, spec.retention_ms, !spec.logging));
      } else {
        store = NewInMemoryWindowStore(name, spec.retention_ms);
      }
      if (spec.logging && c.env_.changelog_reader != nullptr) {
        RETURN_IF_ERROR(restore(
            name, changelog, [&](const Batch& batch) { return RestoreWindow(*store, batch); },
            [&](const std::string& key) -> absl::StatusOr<std::optional<std::string>> {
              ASSIGN_OR_RETURN(auto split, SplitWindowedKey(key));
              return store->Fetch(split.first, split.second);
            }));
      }
      if (spec.logging) store = LoggedWindowStore(std::move(store), sink, now);
      store = CachingWindowStore(std::move(store), cache_bytes,
                                 [&c, name](const std::string& key, int64_t window_start,
                                            const std::optional<std::string>& new_value,
                                            const std::optional<std::string>& old_value) {
                                   auto it = c.window_listeners_.find(name);
                                   if (it == c.window_listeners_.end() || !c.listener_error_.ok())
                                     return;
                                   c.listener_error_ =
                                       it->second(key, window_start, new_value, old_value);
                                 });
      c.window_stores_[name] = std::move(store);
    }
    store_order_.push_back(name);
  }
  return absl::OkStatus();
}

absl::Status StreamTask::CreateNodes(const Topology::Subtopology& subtopology) {
  std::map<std::string, ProcessorNode*> by_name;
  for (const std::string& name : subtopology.nodes) {
    const internal::NodeSpec* spec = topology_->node(name);
    nodes_.push_back(spec->factory());
    by_name[name] = nodes_.back().get();
    if (spec->kind == internal::NodeSpec::Kind::kSource) {
      for (const std::string& topic : spec->topics) {
        sources_[context_.ResolveTopic(topic)] = static_cast<SourceNode*>(nodes_.back().get());
      }
    }
  }
  for (const std::string& name : subtopology.nodes) {
    const internal::NodeSpec* spec = topology_->node(name);
    for (const std::string& successor : spec->successors) {
      ProcessorNode* child = by_name.at(successor);
      if (!spec->accepts_child(child)) {
        return absl::InternalError(
            absl::StrCat("node ", successor, " does not take the records ", name, " forwards"));
      }
      by_name.at(name)->AddChild(child);
    }
  }
  for (auto& node : nodes_) RETURN_IF_ERROR(node->Init(&context_));
  return absl::OkStatus();
}

absl::Status StreamTask::TakeErrors() {
  absl::Status s = std::exchange(context_.listener_error_, absl::OkStatus());
  s.Update(changelog_sink_->TakeError());
  return s;
}

std::vector<std::string> StreamTask::source_topics() const {
  std::vector<std::string> out;
  for (const auto& [topic, node] : sources_) out.push_back(topic);
  return out;
}

absl::Status StreamTask::Process(const std::string& topic, int64_t offset,
                                 const RawRecord& record) {
  auto it = sources_.find(topic);
  if (it == sources_.end()) {
    return absl::InvalidArgumentError(absl::StrCat("task ", id(), " does not read topic ", topic));
  }
  context_.topic_ = topic;
  context_.offset_ = offset;
  ++context_.metrics_.processed;
  absl::Status s = it->second->ProcessRaw(record);
  s.Update(TakeErrors());
  RETURN_IF_ERROR(s);
  if (context_.stream_time_ < 0) return absl::OkStatus();  // unknown: nothing to punctuate on
  return Punctuate(PunctuationType::kStreamTime, context_.stream_time_);
}

absl::Status StreamTask::PunctuateWallClock() {
  return Punctuate(PunctuationType::kWallClockTime, context_.wall_clock_ms());
}

absl::Status StreamTask::Punctuate(PunctuationType type, int64_t now) {
  std::vector<std::pair<int64_t, int64_t>> due;  // (due time, id)
  for (const auto& [id, schedule] : context_.punctuations_) {
    if (schedule.type == type && schedule.next <= now) due.emplace_back(schedule.next, id);
  }
  if (due.empty()) return absl::OkStatus();
  std::sort(due.begin(), due.end());
  // No current record while punctuating; restored afterwards for the record that caused it.
  const std::string topic = std::exchange(context_.topic_, "");
  const int64_t offset = std::exchange(context_.offset_, -1);
  const int64_t timestamp = std::exchange(context_.timestamp_, now);
  absl::Status s;
  for (const auto& [next, id] : due) {
    auto it = context_.punctuations_.find(id);
    if (it == context_.punctuations_.end()) continue;  // cancelled by an earlier punctuator
    // Copied: the punctuator may cancel itself, which erases the schedule.
    const Punctuator punctuator = it->second.punctuator;
    const std::string owner = it->second.owner;
    s = punctuator(now);
    s.Update(TakeErrors());
    if (!s.ok()) {
      s = WithContext(s, absl::StrCat(owner, ": punctuation at ", now));
      break;
    }
    it = context_.punctuations_.find(id);
    if (it == context_.punctuations_.end()) continue;
    TaskContext::PunctuationSchedule& schedule = it->second;
    // The first boundary after `now`, so a gap of several intervals fires once.
    const int64_t missed = (now - schedule.next) / schedule.interval_ms;
    schedule.next += (missed + 1) * schedule.interval_ms;
  }
  context_.topic_ = topic;
  context_.offset_ = offset;
  context_.timestamp_ = timestamp;
  return s;
}

absl::Status StreamTask::AdvanceIdleStreamTime(int64_t now) {
  TaskContext& c = context_;
  // Idle only as far as the input is known to be read: not past a pause of the application.
  const int64_t idle_until =
      c.env_.input_caught_up_at_ms ? std::min(now, c.env_.input_caught_up_at_ms()) : now;
  if (c.stream_time_ < 0 || idle_until < 0 ||
      idle_until - c.advanced_at_wall_clock_ < c.env_.idle_close_ms) {
    return absl::OkStatus();
  }
  const int64_t advanced = c.advanced_at_stream_time_ + (idle_until - c.advanced_at_wall_clock_);
  if (advanced <= c.stream_time_) return absl::OkStatus();
  // What the caches hold reaches the nodes downstream before the windows it belongs to close.
  RETURN_IF_ERROR(Flush());
  c.stream_time_ = advanced;
  c.timestamp_ = advanced;
  for (auto& node : nodes_) {
    RETURN_IF_ERROR(node->AdvanceStreamTime(advanced));
    RETURN_IF_ERROR(TakeErrors());
  }
  return Punctuate(PunctuationType::kStreamTime, advanced);
}

absl::Status StreamTask::ResumeStreamTime(int64_t stream_time) {
  TaskContext& c = context_;
  if (stream_time <= c.stream_time_) return absl::OkStatus();
  c.stream_time_ = stream_time;
  c.advanced_at_stream_time_ = stream_time;
  c.advanced_at_wall_clock_ = c.env_.wall_clock_ms();
  for (auto& node : nodes_) {
    RETURN_IF_ERROR(node->AdvanceStreamTime(stream_time));
    RETURN_IF_ERROR(TakeErrors());
  }
  return absl::OkStatus();
}

absl::Status StreamTask::Flush() {
  // Stores in the order they were declared: an upstream store's flushed updates may write into a
  // downstream store, which is flushed after it.
  for (const std::string& name : store_order_) {
    if (KeyValueStore* kv = context_.key_value_store(name)) {
      RETURN_IF_ERROR(kv->Flush());
    } else if (WindowStore* w = context_.window_store(name)) {
      RETURN_IF_ERROR(w->Flush());
    } else if (SessionStore* s = context_.session_store(name)) {
      RETURN_IF_ERROR(s->Flush());
    }
    RETURN_IF_ERROR(TakeErrors());
  }
  return absl::OkStatus();
}

absl::Status StreamTask::OutputDelivered() {
  changelog_sink_->SendHeld();
  return TakeErrors();
}

void StreamTask::Close() {
  if (closed_) return;
  closed_ = true;
  for (auto& node : nodes_) node->Close();
  for (auto& [name, store] : context_.kv_stores_) store->Close();
  for (auto& [name, store] : context_.window_stores_) store->Close();
  for (auto& [name, store] : context_.session_stores_) store->Close();
}

}  // namespace internal
}  // namespace runnel::streams

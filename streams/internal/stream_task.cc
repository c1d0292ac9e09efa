#include "streams/internal/stream_task.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "streams/state/caching_store.h"

namespace runnel::streams::internal {

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

void TaskChangelogSink::Send(const std::string& store_name, const ChangelogRecord& record) {
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
  return task;
}

StreamTask::~StreamTask() { Close(); }

absl::Status StreamTask::OpenStores(const Topology::Subtopology& subtopology) {
  TaskContext& c = context_;
  changelog_sink_ =
      std::make_unique<TaskChangelogSink>(c.env_.collector, c.env_.application_id, c.partition_);
  TaskChangelogSink* sink = changelog_sink_.get();
  auto now = [&c] { return c.timestamp_; };
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
        RETURN_IF_ERROR(c.env_.changelog_reader->Restore(
            changelog, c.partition_, [&](const std::vector<ChangelogRecord>& batch) {
              c.metrics_.restored_records += static_cast<int64_t>(batch.size());
              return RestoreKeyValue(*store, batch);
            }));
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
        RETURN_IF_ERROR(c.env_.changelog_reader->Restore(
            changelog, c.partition_, [&](const std::vector<ChangelogRecord>& batch) {
              c.metrics_.restored_records += static_cast<int64_t>(batch.size());
              return RestoreSession(*store, batch);
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
        RETURN_IF_ERROR(c.env_.changelog_reader->Restore(
            changelog, c.partition_, [&](const std::vector<ChangelogRecord>& batch) {
              c.metrics_.restored_records += static_cast<int64_t>(batch.size());
              return RestoreWindow(*store, batch);
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
  return s;
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

void StreamTask::Close() {
  if (closed_) return;
  closed_ = true;
  for (auto& node : nodes_) node->Close();
  for (auto& [name, store] : context_.kv_stores_) store->Close();
  for (auto& [name, store] : context_.window_stores_) store->Close();
  for (auto& [name, store] : context_.session_stores_) store->Close();
}

}  // namespace runnel::streams::internal

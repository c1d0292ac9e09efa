#include "broker/group/assignor.h"

#include <algorithm>
#include <optional>
#include <utility>

namespace runnel::broker {
namespace {

// Every member of the spec, each with an empty assignment: members that get nothing still appear.
GroupAssignment EmptyAssignment(const AssignmentSpec& spec) {
  GroupAssignment out;
  for (const AssignmentMember& m : spec.members) out[m.member_id];
  return out;
}

class RangeAssignor final : public Assignor {
 public:
  std::string_view name() const override { return "range"; }

  GroupAssignment Assign(const AssignmentSpec& spec) const override {
    // Static members are ordered by their instance id so that a static member that restarts (and
    // comes back with a new member id) takes back the same ranges.
    std::vector<const AssignmentMember*> order;
    order.reserve(spec.members.size());
    for (const AssignmentMember& m : spec.members) order.push_back(&m);
    std::sort(order.begin(), order.end(), [](const AssignmentMember* a, const AssignmentMember* b) {
      const std::string& ka = a->instance_id.empty() ? a->member_id : a->instance_id;
      const std::string& kb = b->instance_id.empty() ? b->member_id : b->instance_id;
      return ka != kb ? ka < kb : a->member_id < b->member_id;
    });

    // Existing topic -> its subscribers, in that order.
    std::map<const std::string*, std::vector<const AssignmentMember*>> subscribers;
    for (const AssignmentMember* m : order) {
      for (const std::string& topic : m->topics) {
        const auto it = spec.partition_counts.find(topic);
        if (it != spec.partition_counts.end()) subscribers[&it->first].push_back(m);
      }
    }

    GroupAssignment out = EmptyAssignment(spec);
    for (const auto& [topic, members] : subscribers) {
      const int32_t count = spec.partition_counts.find(*topic)->second;
      const int32_t n = static_cast<int32_t>(members.size());
      int32_t next = 0;
      for (int32_t i = 0; i < n && next < count; ++i) {
        const int32_t end = next + count / n + (i < count % n ? 1 : 0);
        std::set<int32_t>& partitions = out[members[i]->member_id][*topic];
        for (; next < end; ++next) partitions.insert(partitions.end(), next);
      }
    }
    return out;
  }
};

// One run of the uniform assignor. Members are numbered in member id order and topics in name
// order; the numbers are the tie-breaks, which makes the result independent of the spec's member
// order.
//
// Topics whose subscribers are the same set of members form a class: any partition of the class
// may go to any member of it. Per class we keep its members ordered by load, so "the least loaded
// member that may take this partition" is one lookup; a homogeneous group has a single class.
class UniformRun {
 public:
  explicit UniformRun(const AssignmentSpec& spec) : spec_(spec) {}

  GroupAssignment Run() {
    Index();
    Keep();
    Fill();
    Balance();
    return Result();
  }

 private:
  struct Topic {
    const std::string* name;
    int32_t count;
    int cls;
    std::vector<int> owner;  // per partition, the owning member or -1
  };

  // A partition a member holds during balancing, ordered by how readily the member gives it
  // away: first the ones it did not own before this run (so the ones it owned longest stay), then
  // the highest partition number, then the later topic.
  struct Held {
    bool in_current;
    int32_t partition;
    int topic;

    bool operator<(const Held& o) const {
      if (in_current != o.in_current) return !in_current;
      if (partition != o.partition) return partition > o.partition;
      return topic > o.topic;
    }
  };

  int Load(int member) const { return load_[member]; }

  // Changes a member's load and keeps every ordering by load in step.
  void AddLoad(int member, int delta) {
    const int old = load_[member];
    load_[member] = old + delta;
    for (const int c : classes_of_member_[member]) {
      class_loads_[c].erase({old, member});
      class_loads_[c].insert({old + delta, member});
    }
    by_load_.erase({-old, member});
    by_load_.insert({-(old + delta), member});
  }

  bool InCurrent(int member, int topic, int32_t partition) const {
    const TopicPartitions& current = members_[member]->current;
    const auto it = current.find(*topics_[topic].name);
    return it != current.end() && it->second.contains(partition);
  }

  void Index() {
    for (const AssignmentMember& m : spec_.members) members_.push_back(&m);
    std::sort(members_.begin(), members_.end(),
              [](const AssignmentMember* a, const AssignmentMember* b) {
                return a->member_id < b->member_id;
              });
    const int num_members = static_cast<int>(members_.size());

    // Topics that exist, have partitions and have a subscriber, by name, with their subscribers
    // in order.
    std::map<std::string_view, std::pair<const std::string*, std::vector<int>>> subscribers;
    for (int m = 0; m < num_members; ++m) {
      for (const std::string& topic : members_[m]->topics) {
        const auto it = spec_.partition_counts.find(topic);
        if (it == spec_.partition_counts.end() || it->second <= 0) continue;
        auto& [name, members] = subscribers[it->first];
        name = &it->first;
        members.push_back(m);
      }
    }

    std::map<std::vector<int>, int> class_ids;
    classes_of_member_.resize(num_members);
    for (const auto& entry : subscribers) {
      const auto& [name, members] = entry.second;
      const auto [cls, inserted] =
          class_ids.try_emplace(members, static_cast<int>(class_ids.size()));
      if (inserted) {
        for (const int m : members) classes_of_member_[m].push_back(cls->second);
      }
      const int32_t count = spec_.partition_counts.find(*name)->second;
      topic_ids_.emplace(*name, static_cast<int>(topics_.size()));
      topics_.push_back(
          {name, count, cls->second, std::vector<int>(static_cast<size_t>(count), -1)});
    }

    load_.assign(num_members, 0);
    class_loads_.resize(class_ids.size());
    for (int m = 0; m < num_members; ++m) {
      for (const int c : classes_of_member_[m]) class_loads_[c].insert({0, m});
      by_load_.insert({0, m});
    }
  }

  // Each member keeps what it owned of topics it still subscribes to and that still exist. Two
  // members should not both claim a partition; if they do, the first in member id order keeps it.
  void Keep() {
    for (int m = 0; m < static_cast<int>(members_.size()); ++m) {
      for (const auto& [name, partitions] : members_[m]->current) {
        const auto id = topic_ids_.find(name);
        if (id == topic_ids_.end() || !members_[m]->topics.contains(name)) continue;
        Topic& topic = topics_[id->second];
        for (const int32_t p : partitions) {
          if (p >= topic.count) break;  // sorted: the rest are gone too
          if (p < 0 || topic.owner[p] != -1) continue;
          topic.owner[p] = m;
          AddLoad(m, 1);
        }
      }
    }
  }

  // Unowned partitions, in topic and partition order, each to the least loaded member that may
  // take it.
  void Fill() {
    for (Topic& topic : topics_) {
      for (int32_t p = 0; p < topic.count; ++p) {
        if (topic.owner[p] != -1) continue;
        const int m = class_loads_[topic.cls].begin()->second;
        topic.owner[p] = m;
        AddLoad(m, 1);
      }
    }
  }

  // Moves partitions from the most loaded members to members of the partition's class with at
  // least two fewer. Each move lowers the sum of squared loads by at least 2, so the loop ends; in
  // practice it makes about as many moves as partitions sit above a fair share. The scan over
  // members is short except when the most loaded members hold only partitions nobody else may
  // take (heterogeneous subscriptions).
  void Balance() {
    if (members_.empty()) return;
    // held[m]: class -> the partitions m holds of that class.
    std::vector<std::map<int, std::set<Held>>> held(members_.size());
    for (int t = 0; t < static_cast<int>(topics_.size()); ++t) {
      for (int32_t p = 0; p < topics_[t].count; ++p) {
        const int m = topics_[t].owner[p];
        held[m][topics_[t].cls].insert({InCurrent(m, t, p), p, t});
      }
    }

    while (true) {
      const int min_load = -by_load_.rbegin()->first;
      std::optional<std::pair<int, Held>> move;  // class, partition
      int from = -1;
      for (const auto& [neg_load, m] : by_load_) {
        if (-neg_load - min_load < 2) break;  // everyone from here on is within one of the least
        for (const auto& [c, partitions] : held[m]) {
          if (partitions.empty() || class_loads_[c].begin()->first > Load(m) - 2) continue;
          if (!move || *partitions.begin() < move->second) move = {c, *partitions.begin()};
        }
        if (move) {
          from = m;
          break;
        }
      }
      if (!move) return;

      const auto [c, h] = *move;
      const int to = class_loads_[c].begin()->second;
      held[from][c].erase(h);
      topics_[h.topic].owner[h.partition] = to;
      held[to][c].insert({InCurrent(to, h.topic, h.partition), h.partition, h.topic});
      AddLoad(from, -1);
      AddLoad(to, 1);
    }
  }

  GroupAssignment Result() const {
    GroupAssignment out = EmptyAssignment(spec_);
    for (const Topic& topic : topics_) {
      for (int32_t p = 0; p < topic.count; ++p) {
        std::set<int32_t>& partitions = out[members_[topic.owner[p]]->member_id][*topic.name];
        partitions.insert(partitions.end(), p);
      }
    }
    return out;
  }

  const AssignmentSpec& spec_;
  std::vector<const AssignmentMember*> members_;  // by member id
  std::vector<Topic> topics_;                     // by name
  std::map<std::string_view, int> topic_ids_;
  std::vector<std::vector<int>> classes_of_member_;
  std::vector<int> load_;
  std::vector<std::set<std::pair<int, int>>> class_loads_;  // per class: (load, member)
  std::set<std::pair<int, int>> by_load_;                   // (-load, member): most loaded first
};

class UniformAssignor final : public Assignor {
 public:
  std::string_view name() const override { return "uniform"; }
  GroupAssignment Assign(const AssignmentSpec& spec) const override {
    return UniformRun(spec).Run();
  }
};

}  // namespace

std::unique_ptr<Assignor> MakeAssignor(std::string_view name) {
  if (name == "range") return std::make_unique<RangeAssignor>();
  if (name == "uniform") return std::make_unique<UniformAssignor>();
  return nullptr;
}

}  // namespace runnel::broker

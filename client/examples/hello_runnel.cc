// hello_runnel: produces a few keyed records to a topic and reads them back with the Runnel
// client library. Usage: hello_runnel [BROKER] [TOPIC]   (defaults 127.0.0.1:7070, hello)
#include <iostream>
#include <string>

#include "client/admin.h"
#include "client/consumer.h"
#include "client/producer.h"

int main(int argc, char** argv) {
  const std::string broker = argc > 1 ? argv[1] : "127.0.0.1:7070";
  const std::string topic = argc > 2 ? argv[2] : "hello";
  namespace rc = runnel::client;

  auto producer = rc::Producer::Create(rc::Properties{{"bootstrap.servers", broker}});
  if (!producer.ok()) {
    std::cerr << "error: producer (" << producer.status() << ")\n";
    return 1;
  }
  for (int i = 0; i < 3; ++i) {
    rc::ProducerRecord record;
    record.topic = topic;
    record.key = "greeting";
    record.value = "hello #" + std::to_string(i);
    auto sent = (*producer)->Send(record).get();  // the future form: wait for the offset
    if (!sent.ok()) {
      std::cerr << "error: send (" << sent.status() << ")\n";
      return 1;
    }
    std::cout << "sent " << *record.value << " to partition " << sent->partition << " offset "
              << sent->offset << "\n";
  }
  (*producer)->Close();

  auto consumer = rc::Consumer::Create(
      rc::Properties{{"bootstrap.servers", broker}, {"auto.offset.reset", "earliest"}});
  if (!consumer.ok()) {
    std::cerr << "error: consumer (" << consumer.status() << ")\n";
    return 1;
  }
  // Read the topic back: every partition from the beginning, for up to 5 seconds.
  auto admin = rc::Admin::Create({.bootstrap_servers = broker});
  auto description = admin.ok() ? (*admin)->DescribeTopic(topic) : admin.status();
  if (!description.ok()) {
    std::cerr << "error: describe " << topic << " (" << description.status() << ")\n";
    return 1;
  }
  std::vector<rc::TopicPartition> partitions;
  for (const auto& p : description->partitions) partitions.push_back({topic, p.partition});
  if (auto s = (*consumer)->Assign(partitions); !s.ok()) {
    std::cerr << "error: assign (" << s << ")\n";
    return 1;
  }
  size_t read = 0;
  for (int round = 0; round < 10 && read < 3; ++round) {
    auto records = (*consumer)->Poll(500);
    if (!records.ok()) {
      std::cerr << "error: poll (" << records.status() << ")\n";
      return 1;
    }
    read += records->size();
    for (const rc::ConsumerRecord& r : *records) {
      std::cout << "read " << r.topic << "-" << r.partition << "@" << r.offset << " "
                << r.key.value_or("null") << " = " << r.value.value_or("null") << "\n";
    }
  }
  return 0;
}

// The DSL tests' driver: a TopologyTestDriver over a builder's topology, every failure recorded
// as a test failure.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <utility>

#include "streams/streams_builder.h"
#include "streams/topology_test_driver.h"

namespace runnel::streams::testing {

// Builds `builder`'s topology and a driver over it; null (the failure recorded) when either fails.
inline std::unique_ptr<TopologyTestDriver> Driver(const StreamsBuilder& builder,
                                                  TestDriverOptions options = {}) {
  auto topology = builder.Build();
  EXPECT_TRUE(topology.ok()) << topology.status();
  if (!topology.ok()) return nullptr;
  auto driver = TopologyTestDriver::Create(*topology, std::move(options));
  EXPECT_TRUE(driver.ok()) << driver.status();
  return driver.ok() ? std::move(*driver) : nullptr;
}

}  // namespace runnel::streams::testing

// Shared by the serde tests: a value through a serde and back.
#pragma once

#include <gtest/gtest.h>

#include "streams/serde.h"

namespace runnel::streams {

template <typename T>
T RoundTrip(const Serde<T>& serde, const T& value) {
  auto back = serde.deserialize(serde.serialize(value));
  EXPECT_TRUE(back.ok()) << back.status();
  return back.ok() ? *back : T{};
}

}  // namespace runnel::streams

// KStream::Process (the Processor API): the member defined apart because it needs the
// processor's node (processor_api_node.h) and streams/processor.h. Included by streams/dsl.h.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "streams/internal/dsl_helpers.h"
#include "streams/internal/graph_builder.h"
#include "streams/internal/processor_api_node.h"
#include "streams/kstream.h"
#include "streams/processor.h"

namespace runnel::streams {

template <typename K, typename V>
template <typename F>
auto KStream<K, V>::Process(F supplier, std::vector<std::string> stores, std::string name) const {
  using P = typename std::decay_t<std::invoke_result_t<const F&>>::element_type;
  using KOut = typename P::KeyOut;
  using VOut = typename P::ValueOut;
  static_assert(std::is_base_of_v<streams::Processor<K, V, KOut, VOut>, P>,
                "KStream<K, V>::Process needs a supplier of a Processor<K, V, KOut, VOut>");
  using Api = streams::Processor<K, V, KOut, VOut>;
  if (name.empty()) name = graph_->NewName("KSTREAM-PROCESSOR");
  graph_->AddNode(
      internal::ApiProcessorSpec<Api>(name, std::function<std::unique_ptr<Api>()>([supplier] {
                                        return std::unique_ptr<Api>(supplier());
                                      }),
                                      stores),
      {node_});
  return KStream<KOut, VOut>(graph_, name, std::nullopt, std::nullopt, true);
}

}  // namespace runnel::streams

#include "streams/json_serde.h"

namespace runnel::streams::serdes {

Serde<nlohmann::json> Json() { return JsonOf<nlohmann::json>(); }

}  // namespace runnel::streams::serdes

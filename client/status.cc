#include "client/status.h"

#include "client/internal/grpc_status.h"

namespace runnel::client {

bool IsNoLongerMember(const absl::Status& s) { return IsMembershipError(ErrorCodeOf(s)); }

}  // namespace runnel::client

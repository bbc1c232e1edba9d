// Query evaluation against committed state (R11, R16).
#include <fmt/format.h>

#include "exec/canister_rt.hpp"
#include "runtime/runtime_impl.hpp"

namespace canopy {

Result<Bytes> Runtime::query_raw(CanisterId id, std::string method, Bytes payload) {
  detail::CanisterRt* c = impl_->find(id);
  if (c == nullptr) {
    return make_reject(RejectCode::destination_invalid,
                       fmt::format("canister {} does not exist", id.to_string()));
  }
  if (!c->has_code()) {
    return make_reject(RejectCode::canister_error,
                       fmt::format("canister {} is empty (no code installed)", id.to_string()));
  }
  // Between rounds the live state is the committed state; the query runs on a copy (R16).
  detail::CanisterRt sandbox(id, c->subnet(), impl_->cfg, *impl_,
                             impl_->subnets[c->subnet().value]->clock(), c->code()->clone(),
                             c->balance());
  return sandbox.run_query(method, payload, MethodKind::query);
}

}  // namespace canopy

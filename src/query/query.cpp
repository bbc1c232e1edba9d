// Query evaluation against committed state (R11, R16, R17): the driver-thread entry points.
// The evaluation itself is query/evaluator.cpp; concurrent queries are query_service.cpp.
#include "canopy/query.hpp"

#include "query/evaluator.hpp"
#include "query/source.hpp"
#include "runtime/runtime_impl.hpp"

namespace canopy {

const char* to_string(QueryOrder order) {
  switch (order) {
    case QueryOrder::depth_first:
      return "depth_first";
    case QueryOrder::parallel:
      return "parallel";
    case QueryOrder::breadth_first:
      return "breadth_first";
  }
  return "?";
}

QueryOrder default_query_order(const Runtime& rt) {
  return rt.config().composite_query_parallel ? QueryOrder::parallel : QueryOrder::depth_first;
}

QueryOutcome query_with_stats(Runtime& rt, CanisterId id, std::string_view method,
                              const Bytes& payload, QueryOrder order) {
  // Between rounds the live state is the committed state; every execution runs on a copy.
  detail::LiveSource source(rt.impl());
  detail::QueryEvaluator ev(rt.config(), source, rt.env(), order);
  QueryOutcome out{ev.run(id, method, payload), {}};
  out.stats = ev.stats();
  return out;
}

Result<Bytes> Runtime::query_raw(CanisterId id, std::string method, Bytes payload) {
  return query_with_stats(*this, id, method, payload, default_query_order(*this)).result;
}

}  // namespace canopy

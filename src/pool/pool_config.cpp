// Pool sizes from flags and config files (canopy/pool.hpp).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

#include "canopy/pool.hpp"

namespace canopy {

namespace {

tl::expected<uint32_t, std::string> parse_u32(std::string_view s, std::string_view what) {
  uint32_t v = 0;
  const auto* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, v);
  if (s.empty() || ec != std::errc() || p != end)
    return tl::unexpected(fmt::format("{} must be a non-negative integer, got '{}'", what, s));
  return v;
}

PoolConfig base_of(const std::vector<PoolConfig>& base, const std::string& name) {
  for (const auto& p : base)
    if (p.name == name) return p;
  PoolConfig p;
  p.name = name;
  return p;
}

tl::expected<uint32_t, std::string> json_u32(const nlohmann::json& v, const std::string& what) {
  if (!v.is_number_unsigned() || v.get<uint64_t>() > UINT32_MAX)
    return tl::unexpected(fmt::format("{} must be a non-negative integer", what));
  return v.get<uint32_t>();
}

}  // namespace

void merge_pool(std::vector<PoolConfig>& pools, const PoolConfig& p) {
  for (auto& q : pools) {
    if (q.name == p.name) {
      q = p;
      return;
    }
  }
  pools.push_back(p);
}

tl::expected<PoolConfig, std::string> parse_pool_flag(std::string_view spec,
                                                      const std::vector<PoolConfig>& base) {
  const auto eq = spec.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return tl::unexpected(
        fmt::format("pool '{}': expected NAME=THREADS[:QUEUE_CAPACITY[:NICE]]", spec));
  }
  const std::string name(spec.substr(0, eq));
  std::string_view rest = spec.substr(eq + 1);
  PoolConfig p = base_of(base, name);
  // THREADS[:QUEUE_CAPACITY[:NICE]]
  std::vector<std::string_view> parts;
  for (size_t from = 0;;) {
    const auto colon = rest.find(':', from);
    parts.push_back(rest.substr(from, colon == std::string_view::npos ? rest.npos : colon - from));
    if (colon == std::string_view::npos) break;
    from = colon + 1;
  }
  if (parts.size() > 3) {
    return tl::unexpected(
        fmt::format("pool '{}': expected NAME=THREADS[:QUEUE_CAPACITY[:NICE]]", name));
  }
  auto t = parse_u32(parts[0], fmt::format("pool '{}': threads", name));
  if (!t) return tl::unexpected(t.error());
  p.threads = *t;
  if (parts.size() > 1) {
    auto q = parse_u32(parts[1], fmt::format("pool '{}': queue capacity", name));
    if (!q) return tl::unexpected(q.error());
    p.queue_capacity = *q;
  }
  if (parts.size() > 2) {
    auto n = parse_u32(parts[2], fmt::format("pool '{}': nice", name));
    if (!n) return tl::unexpected(n.error());
    p.nice = static_cast<int32_t>(std::min<uint32_t>(*n, 1000));
  }
  return p;
}

tl::expected<std::vector<PoolConfig>, std::string> parse_pool_json(
    std::string_view json_text, const std::vector<PoolConfig>& base) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::parse_error& e) {
    return tl::unexpected(fmt::format("invalid JSON: {}", e.what()));
  }
  if (!doc.is_object()) return tl::unexpected(std::string("expected a JSON object"));
  std::vector<PoolConfig> out = base;
  for (auto& [key, value] : doc.items()) {
    if (key != "pools")
      return tl::unexpected(fmt::format("unknown key '{}' (expected \"pools\")", key));
  }
  auto it = doc.find("pools");
  if (it == doc.end()) return out;
  if (!it->is_object())
    return tl::unexpected(std::string("\"pools\" must be an object: {\"name\": {\"threads\": N}}"));
  for (auto& [name, spec] : it->items()) {
    PoolConfig p = base_of(out, name);
    if (spec.is_number()) {
      auto t = json_u32(spec, fmt::format("pool '{}': threads", name));
      if (!t) return tl::unexpected(t.error());
      p.threads = *t;
    } else if (spec.is_object()) {
      for (auto& [field, v] : spec.items()) {
        if (field == "threads") {
          auto t = json_u32(v, fmt::format("pool '{}': threads", name));
          if (!t) return tl::unexpected(t.error());
          p.threads = *t;
        } else if (field == "nice") {
          auto n = json_u32(v, fmt::format("pool '{}': nice", name));
          if (!n) return tl::unexpected(n.error());
          p.nice = static_cast<int32_t>(std::min<uint32_t>(*n, 1000));
        } else if (field == "queue_capacity") {
          auto q = json_u32(v, fmt::format("pool '{}': queue_capacity", name));
          if (!q) return tl::unexpected(q.error());
          p.queue_capacity = *q;
        } else {
          return tl::unexpected(
              fmt::format("pool '{}': unknown field '{}' (expected threads, queue_capacity, nice)",
                          name, field));
        }
      }
    } else {
      return tl::unexpected(fmt::format("pool '{}': expected a thread count or an object", name));
    }
    merge_pool(out, p);
  }
  return out;
}

tl::expected<std::vector<PoolConfig>, std::string> load_pool_file(
    const std::string& path, const std::vector<PoolConfig>& base) {
  std::ifstream in(path);
  if (!in) return tl::unexpected(fmt::format("cannot read pool config file '{}'", path));
  std::stringstream ss;
  ss << in.rdbuf();
  auto r = parse_pool_json(ss.str(), base);
  if (!r) return tl::unexpected(fmt::format("{}: {}", path, r.error()));
  return r;
}

}  // namespace canopy

#include "cli/stats_grouping.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "cli/report_json.hpp"

namespace streamll::cli {
namespace {

const std::string kNone = "(none)";
const std::string kOther = "(other)";
constexpr std::uint64_t kMaxTop = 1000000;

const std::map<std::string, ModelUsage>& groups_of(const Grouping& grouping, const UsageStats& s) {
  return grouping.tag_key.empty() ? s.models : s.by_tag;
}

}  // namespace

std::optional<Grouping> parse_grouping(const Args& args) {
  const auto by = args.value("by");
  if (!by) {
    for (const char* needs_by : {"top", "sort", "max-values"}) {
      if (args.flag(needs_by)) throw UsageError(std::string("--") + needs_by + " needs --by");
    }
    return std::nullopt;
  }
  Grouping g;
  g.spec = *by;
  const std::string prefix = "tag:";
  if (*by == "model") {
  } else if (by->compare(0, prefix.size(), prefix) == 0 && by->size() > prefix.size()) {
    g.tag_key = by->substr(prefix.size());
  } else {
    throw UsageError("--by must be 'model' or 'tag:KEY' (e.g. tag:user_id), got '" + *by + "'");
  }
  if (const auto top = args.unsigned_value("top")) {
    if (*top == 0 || *top > kMaxTop) throw UsageError("--top must be 1 to 1000000");
    g.top = static_cast<std::size_t>(*top);
  }
  if (const auto sort = args.value("sort")) {
    if (*sort != "calls" && *sort != "cost")
      throw UsageError("--sort must be 'calls' or 'cost', got '" + *sort + "'");
    g.by_cost = *sort == "cost";
  }
  if (const auto n = args.unsigned_value("max-values")) {
    if (*n == 0 || *n > kMaxGroupValues) throw UsageError("--max-values must be 1 to 10000");
    g.max_values = static_cast<std::size_t>(*n);
  }
  return g;
}

RankedGroups rank_groups(const Grouping& grouping, const UsageStats& s) {
  RankedGroups out;
  for (const auto& [name, usage] : groups_of(grouping, s)) {
    if (name == kOther) {
      out.other = &usage;
    } else if (name == kNone && !grouping.tag_key.empty()) {
      out.none = &usage;
    } else {
      out.top.emplace_back(name, &usage);
    }
  }
  out.values = out.top.size();
  // Ties by calls (for cost), then by name: the same input ranks the same way every time.
  auto better = [&grouping](const auto& a, const auto& b) {
    const ModelUsage& x = *a.second;
    const ModelUsage& y = *b.second;
    if (grouping.by_cost && x.total_cost_usd != y.total_cost_usd)
      return x.total_cost_usd > y.total_cost_usd;
    if (x.calls != y.calls) return x.calls > y.calls;
    return a.first < b.first;
  };
  const std::size_t keep = std::min(grouping.top, out.top.size());
  std::partial_sort(out.top.begin(), out.top.begin() + static_cast<std::ptrdiff_t>(keep),
                    out.top.end(), better);
  out.top.resize(keep);
  return out;
}

std::string printable(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (std::size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    const auto next = i + 1 < name.size() ? static_cast<unsigned char>(name[i + 1]) : 0;
    if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else if (c == 0xc2 && next >= 0x80 && next <= 0x9f) {  // U+0080..U+009F, C1 controls
      out += fmt::format("\\u{:04x}", next);
      ++i;
    } else if (c == '\\') {
      out += "\\\\";
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

nlohmann::json grouping_json(const Grouping& grouping, const UsageStats& s) {
  const RankedGroups ranked = rank_groups(grouping, s);
  nlohmann::json values = nlohmann::json::array();
  for (const auto& [name, usage] : ranked.top) {
    nlohmann::json one = to_json(*usage);
    one["value"] = name;
    values.push_back(std::move(one));
  }
  auto bucket = [](const ModelUsage* usage) {
    return usage ? to_json(*usage) : nlohmann::json(nullptr);
  };
  return {{"by", grouping.spec},
          {"sort", grouping.by_cost ? "cost" : "calls"},
          {"top", grouping.top},
          {"max_values", grouping.max_values},
          {"value_max_bytes", kMaxTagValueBytes},
          {"distinct_values", ranked.values},
          {"values", std::move(values)},
          {"none", bucket(ranked.none)},
          {"other", bucket(ranked.other)}};
}

}  // namespace streamll::cli

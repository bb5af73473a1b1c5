#pragma once
// streamll stats --by: the llm_call events per model or per value of a tag, ranked by calls or
// cost and cut to the top N, for the table and for --json.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli/args.hpp"
#include "streamll/redis/analytics.hpp"

namespace streamll::cli {

struct Grouping {
  std::string spec;      ///< as given: "model" or "tag:KEY"
  std::string tag_key;   ///< KEY; empty for "model"
  bool by_cost = false;  ///< --sort cost; else by calls
  std::size_t top = 10;
  std::size_t max_values = 1000;  ///< distinct values counted apart (UsageQuery)
};

/// --by, --top, --sort and --max-values; nullopt without --by. A bad value, or --top, --sort
/// or --max-values without --by, throws UsageError.
std::optional<Grouping> parse_grouping(const Args& args);

/// The groups of `s` as `grouping` ranks them.
struct RankedGroups {
  std::vector<std::pair<std::string, const ModelUsage*>> top;  ///< best first, at most N
  const ModelUsage* none = nullptr;                            ///< "(none)": calls without the tag
  const ModelUsage* other = nullptr;                           ///< "(other)": values past the cap
  std::size_t values = 0;  ///< distinct values counted apart, (none)/(other) not
};
RankedGroups rank_groups(const Grouping& grouping, const UsageStats& s);

/// The "by" object of `stats --json`.
nlohmann::json grouping_json(const Grouping& grouping, const UsageStats& s);

}  // namespace streamll::cli

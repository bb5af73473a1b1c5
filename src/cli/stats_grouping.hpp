#pragma once
// streamll stats --by: the llm_call events per model or per value of a tag, ranked by calls or
// cost and cut to the top N, for the table and for --json.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
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

/// The most --max-values allows: each value takes up to 114 KiB (seven distributions of
/// 16.3 KiB) and its name up to kMaxTagValueBytes, so about 1.1 GiB at worst (docs/cli.md).
constexpr std::size_t kMaxGroupValues = 10000;

/// --by, --top, --sort and --max-values; nullopt without --by. A bad value, or --top, --sort
/// or --max-values without --by, throws UsageError.
std::optional<Grouping> parse_grouping(const Args& args);

/// The groups of `s` as `grouping` ranks them.
struct RankedGroups {
  std::vector<std::pair<std::string, const ModelUsage*>> top;  ///< best first, at most N
  const ModelUsage* none = nullptr;                            ///< "(none)": calls without the tag
  const ModelUsage* other = nullptr;  ///< "(other)": values past the cap (in merge order)
  std::size_t values = 0;             ///< distinct values counted apart, (none)/(other) not
};
RankedGroups rank_groups(const Grouping& grouping, const UsageStats& s);

/// `name` (a model name, an event type, a tag value: data, not ours) fit for a terminal:
/// control characters (C0, DEL, C1 in UTF-8) as \xNN or \uNNNN and backslash doubled, so a
/// value cannot move the cursor, recolour or retitle the terminal, or look like another line.
std::string printable(std::string_view name);

/// The "by" object of `stats --json`.
nlohmann::json grouping_json(const Grouping& grouping, const UsageStats& s);

}  // namespace streamll::cli

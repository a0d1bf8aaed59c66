// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/status_schema.h"

#include <algorithm>
#include <cmath>

namespace stallwatch {

int hist_rank_bucket(const std::vector<std::uint64_t>& hist, std::uint64_t rank) {
  std::uint64_t total = 0;
  for (auto n : hist) total += n;
  if (total == 0) return -1;
  rank = std::clamp<std::uint64_t>(rank, 1, total);
  std::uint64_t seen = 0;
  for (std::size_t k = 0; k < hist.size(); ++k) {
    seen += hist[k];
    if (seen >= rank) return static_cast<int>(k);
  }
  return -1;  // not reached: seen ends at total
}

int hist_quantile_bucket(const std::vector<std::uint64_t>& hist, double q) {
  std::uint64_t total = 0;
  for (auto n : hist) total += n;
  if (total == 0) return -1;
  return hist_rank_bucket(hist,
                          static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total))));
}

std::int64_t status_late_p99_us(const std::vector<std::uint64_t>& hist) {
  std::uint64_t total = 0;
  for (auto n : hist) total += n;
  const int k =
      hist_rank_bucket(hist, static_cast<std::uint64_t>(0.99 * static_cast<double>(total)) + 1);
  if (k < 0) return 0;
  return ((std::int64_t{1} << (k + 1)) - 1) / 1000;
}

}  // namespace stallwatch

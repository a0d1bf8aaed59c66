// SPDX-License-Identifier: GPL-2.0-or-later
// render_metrics_tool STATUS.json: prints render_metrics() of a status document, so ctest can
// hand the exposition of each fixture to `promtool check metrics`.
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "stallwatch/metrics/exposition.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: render_metrics_tool STATUS.json\n");
    return 2;
  }
  std::ifstream in(argv[1]);
  std::stringstream text;
  text << in.rdbuf();
  auto doc = nlohmann::json::parse(text.str(), nullptr, false);
  if (!in || doc.is_discarded()) {
    std::fprintf(stderr, "%s: not readable JSON\n", argv[1]);
    return 1;
  }
  std::fputs(stallwatch::metrics::render_metrics(doc).c_str(), stdout);
  return 0;
}

// SPDX-License-Identifier: GPL-2.0-or-later
// stallwatchctl reports ID --timeline: the flight recorder's timeline drawn for a terminal.
#include "stallwatch/ctl/timeline_view.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "stallwatch/core/status_schema.h"  // get_or

namespace stallwatch::ctl {

using nlohmann::json;

namespace {

// ---- text ------------------------------------------------------------------------------------

// Printable ASCII only: every other byte (controls, DEL, and all of UTF-8 beyond ASCII, whose
// width a terminal decides) becomes "\xHH", so one byte is one column and nothing reaches the
// terminal that could move the cursor or recolour it. escape_controls() (core/sanitize.h) keeps
// valid UTF-8, which would break the columns; labels the recorder sanitized pass unchanged.
std::string ascii(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f)
      out += static_cast<char>(c);
    else
      out += fmt::format("\\x{:02x}", c);
  }
  return out;
}

std::string str(const json& j, const char* key) { return ascii(get_or<std::string>(j, key, "")); }

// At most `width` characters, "..." marking a cut.
std::string fit(std::string s, std::size_t width) {
  if (s.size() <= width) return s;
  if (width <= 3) return s.substr(0, width);
  return s.substr(0, width - 3) + "...";
}

std::string duration(std::int64_t ns) {
  const double a = std::fabs(static_cast<double>(ns));
  if (a >= 1e9) return fmt::format("{:.2f}s", static_cast<double>(ns) / 1e9);
  if (a >= 1e6) return fmt::format("{:.1f}ms", static_cast<double>(ns) / 1e6);
  return fmt::format("{:.0f}us", static_cast<double>(ns) / 1e3);
}

// Hard IRQs per second in at most 6 characters.
std::string rate_text(double r) {
  if (!(r >= 0)) return "-";
  if (r < 9.95) return fmt::format("{:.1f}", r);
  if (r < 9999.5) return fmt::format("{:.0f}", r);
  if (r < 999950) return fmt::format("{:.1f}k", r / 1e3);
  if (r < 9999.5e6) return fmt::format("{:.0f}M", r / 1e6);
  return ">9999M";
}

// ---- cells and colour ---------------------------------------------------------------------

enum class Style : std::uint8_t {
  kNone,
  kDim,      // idle
  kBold,     // the stalled CPU's name
  kIrq,      // hard IRQ
  kSoftirq,  // softirq
  kBeat,     // heartbeat wakeup
  kMarker,   // S and D on the ruler
  kAlert,    // an IRQ-heavy rate
  kHolder,   // the holder's segments on the stalled CPU
};

const char* sgr(Style s) {
  switch (s) {
    case Style::kNone: return "";
    case Style::kDim: return "\x1b[2m";
    case Style::kBold: return "\x1b[1m";
    case Style::kIrq: return "\x1b[31m";
    case Style::kSoftirq: return "\x1b[33m";
    case Style::kBeat: return "\x1b[32m";
    case Style::kMarker: return "\x1b[1;35m";
    case Style::kAlert: return "\x1b[1;31m";
    case Style::kHolder: return "\x1b[1;36m";
  }
  return "";
}

struct Cell {
  char ch = ' ';
  Style style = Style::kNone;
};
using Line = std::vector<Cell>;

void put(Line& line, std::string_view s, Style style = Style::kNone) {
  for (char c : s) line.push_back({c, style});
}

// One output line: trailing blanks dropped, SGR codes only where the style changes.
void emit(std::string& out, Line line, bool colour) {
  while (!line.empty() && line.back().ch == ' ') line.pop_back();
  Style cur = Style::kNone;
  for (const Cell& c : line) {
    if (colour && c.style != cur) {
      if (cur != Style::kNone) out += "\x1b[0m";
      out += sgr(c.style);
      cur = c.style;
    }
    out += c.ch;
  }
  if (colour && cur != Style::kNone) out += "\x1b[0m";
  out += '\n';
}

void emit(std::string& out, std::string_view text, bool colour, Style style = Style::kNone) {
  Line line;
  put(line, text, style);
  emit(out, std::move(line), colour);
}

// Text broken at spaces into lines of at most `width` (a word too long is cut), continuation
// lines indented by two; at most kMaxTextBytes of it (a hostile note could be megabytes).
void emit_text(std::string& out, std::string_view text, std::size_t width, bool colour,
               Style style = Style::kNone) {
  constexpr std::size_t kMaxTextBytes = 1000;
  const std::string capped = fit(std::string(text), kMaxTextBytes);
  std::string_view rest = capped;
  const std::string_view indent = "  ";
  for (bool first = true;; first = false) {
    const std::size_t avail = width - (first ? 0 : indent.size());
    const std::string lead(first ? "" : indent);
    if (rest.size() <= avail) {
      emit(out, lead + std::string(rest), colour, style);
      return;
    }
    std::size_t cut = rest.rfind(' ', avail);
    if (cut == std::string_view::npos || cut == 0) cut = avail;
    emit(out, lead + std::string(rest.substr(0, cut)), colour, style);
    rest.remove_prefix(cut);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty()) return;
  }
}

// Words (items) joined by two spaces, wrapped at `width`; continuation lines indented.
void emit_wrapped(std::string& out, std::string_view first, const std::vector<std::string>& items,
                  std::size_t width, bool colour) {
  const std::string indent(first.size() + 1, ' ');
  std::string line = std::string(first) + " ";
  bool fresh = true;  // nothing after the lead or the indent yet
  for (const auto& raw : items) {
    const std::string item = fit(raw, width - indent.size());
    const std::size_t need = item.size() + (fresh ? 0 : 2);
    if (line.size() + need > width && !fresh) {
      emit(out, line, colour);
      line = indent;
      fresh = true;
    }
    if (!fresh) line += "  ";
    line += item;
    fresh = false;
  }
  if (!fresh) emit(out, line, colour);
}

// ---- the timeline -----------------------------------------------------------------------------

enum class Kind : std::uint8_t { kTask, kIdle, kBeat, kSoftirq, kIrq };

struct Segment {
  std::int64_t start = 0;
  std::int64_t end = 0;
  Kind kind = Kind::kTask;
  std::string label;
};

struct CpuRow {
  int cpu = -1;
  std::int64_t events = 0;
  bool lost = false;
  std::int64_t truncated = 0;
  double irq_per_s = -1;
  std::vector<Segment> segments;
  bool has_events() const { return events > 0 || !segments.empty(); }
};

std::vector<CpuRow> read_cpus(const json& tl, std::int64_t detected) {
  std::vector<CpuRow> rows;
  auto cpus = tl.find("cpus");
  if (cpus == tl.end() || !cpus->is_array()) return rows;
  for (const auto& c : *cpus) {
    CpuRow r;
    r.cpu = get_or<int>(c, "cpu", -1);
    if (r.cpu < 0) continue;
    if (std::any_of(rows.begin(), rows.end(), [&](const CpuRow& o) { return o.cpu == r.cpu; }))
      continue;  // a CPU twice: the first one counts
    r.events = get_or<std::int64_t>(c, "events", 0);
    r.lost = get_or<bool>(c, "lost_events", false);
    r.truncated = get_or<std::int64_t>(c, "truncated", 0);
    r.irq_per_s = get_or<double>(c, "irq_per_s", -1.0);
    auto segs = c.find("segments");
    if (segs != c.end() && segs->is_array()) {
      for (const auto& s : *segs) {
        Segment seg;
        seg.start = get_or<std::int64_t>(s, "start", 0);
        seg.end = get_or<std::int64_t>(s, "end", seg.start);
        if (get_or<bool>(s, "open", false)) seg.end = std::max(seg.end, detected);
        if (seg.end < seg.start) continue;
        const std::string kind = get_or<std::string>(s, "kind", "");
        seg.label = str(s, "label");
        if (kind == "task")
          seg.kind = seg.label.rfind("sw-hb/", 0) == 0 ? Kind::kBeat : Kind::kTask;
        else if (kind == "idle")
          seg.kind = Kind::kIdle;
        else if (kind == "irq")
          seg.kind = Kind::kIrq;
        else if (kind == "softirq")
          seg.kind = Kind::kSoftirq;
        else
          continue;  // a kind this version does not know
        r.segments.push_back(std::move(seg));
      }
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

// Time to columns: column c covers [col_start(c), col_start(c + 1)).
struct Scale {
  std::int64_t t0 = 0;
  std::int64_t span = 1;  // ns, at most kMaxSpan so that (t - t0) * width fits
  int width = 1;
  static constexpr std::int64_t kMaxSpan = 1'000'000'000'000'000;  // 11.6 days

  int col(std::int64_t t) const {
    if (t <= t0) return 0;
    if (t - t0 >= span) return width - 1;
    return static_cast<int>((t - t0) * width / span);
  }
  std::int64_t col_start(int c) const { return t0 + (span * c + width - 1) / width; }
  std::int64_t overlap(const Segment& s, int c) const {
    return std::min(s.end, col_start(c + 1)) - std::max(s.start, col_start(c));
  }
};

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// Legend letters for labels that do not fit their segments: A..Z then a..z without S and D (the
// ruler's marks), then '?'.
constexpr std::string_view kLetters = "ABCEFGHIJKLMNOPQRTUVWXYZabcdefghijklmnopqrstuvwxyz";

struct Letters {
  std::vector<std::string> labels;
  bool overflow = false;
  char of(const std::string& label) {
    auto it = std::find(labels.begin(), labels.end(), label);
    const std::size_t i = static_cast<std::size_t>(it - labels.begin());
    if (it == labels.end()) {
      if (labels.size() >= kLetters.size()) {
        overflow = true;
        return '?';
      }
      labels.push_back(label);
    }
    return kLetters[i];
  }
};

// The bar of one CPU: task segments (the one covering most of a column owns it), hard IRQs and
// softirqs on top (a column more than half inside one is drawn as that IRQ, with its label when
// one IRQ fills a long enough stretch; a shorter one leaves a mark), heartbeat ticks.
Line draw_bar(const CpuRow& row, const Scale& sc, const std::string& holder_label, Letters& letters,
              bool stalled) {
  const int w = sc.width;
  const std::int64_t t1 = sc.t0 + sc.span;
  struct Best {
    std::int64_t overlap = 0;
    int seg = -1;
  };
  std::vector<Best> base(w), dominant(w);
  std::vector<Kind> mark(w, Kind::kTask);  // kTask: no mark
  for (int i = 0; i < static_cast<int>(row.segments.size()); ++i) {
    const Segment& s = row.segments[i];
    if (s.end < sc.t0 || s.start > t1) continue;
    const int c0 = sc.col(s.start);
    const int c1 = sc.col(s.end > s.start ? s.end - 1 : s.start);
    for (int c = c0; c <= c1; ++c) {
      const std::int64_t ov = sc.overlap(s, c);
      if (s.kind == Kind::kTask || s.kind == Kind::kIdle) {
        if (ov > base[c].overlap) base[c] = {ov, i};
        continue;
      }
      mark[c] = std::max(mark[c], s.kind);  // irq over softirq over heartbeat
      if (s.kind == Kind::kBeat) continue;
      const std::int64_t col_ns = sc.col_start(c + 1) - sc.col_start(c);
      if (2 * ov > col_ns && ov > dominant[c].overlap) dominant[c] = {ov, i};
    }
  }
  Line bar(w);
  auto task_style = [&](const std::string& label) {
    return stalled && !holder_label.empty() && label == holder_label ? Style::kHolder
                                                                     : Style::kNone;
  };
  // Fill and marks first; labels and letters go over them.
  for (int c = 0; c < w; ++c) {
    if (base[c].seg >= 0) {
      const Segment& s = row.segments[base[c].seg];
      bar[c] = s.kind == Kind::kIdle ? Cell{'.', Style::kDim} : Cell{'=', task_style(s.label)};
    }
    switch (mark[c]) {
      case Kind::kIrq: bar[c] = {'^', Style::kIrq}; break;
      case Kind::kSoftirq: bar[c] = {'~', Style::kSoftirq}; break;
      case Kind::kBeat: bar[c] = {'\'', Style::kBeat}; break;
      default: break;
    }
  }
  // Task runs: consecutive columns of the same label, labelled in their longest stretch that no
  // IRQ covers: "=label==..." when it fits, else the legend letter.
  for (int c = 0; c < w;) {
    if (base[c].seg < 0 || row.segments[base[c].seg].kind != Kind::kTask) {
      ++c;
      continue;
    }
    const std::string& label = row.segments[base[c].seg].label;
    int end = c;
    while (end < w && base[end].seg >= 0 && row.segments[base[end].seg].kind == Kind::kTask &&
           row.segments[base[end].seg].label == label)
      ++end;
    int best_at = -1, best_len = 0;
    for (int i = c; i < end;) {
      if (dominant[i].seg >= 0) {
        ++i;
        continue;
      }
      int j = i;
      while (j < end && dominant[j].seg < 0) ++j;
      if (j - i > best_len) best_at = i, best_len = j - i;
      i = j;
    }
    const Style st = task_style(label);
    if (best_len >= static_cast<int>(label.size()) + 2) {
      bar[best_at] = {'=', st};
      for (std::size_t k = 0; k < label.size(); ++k)
        bar[best_at + 1 + static_cast<int>(k)] = {label[k], st};
    } else if (best_len > 0) {
      bar[best_len >= 2 ? best_at + 1 : best_at] = {letters.of(label), st};
    }
    c = end;
  }
  // IRQs that cover columns: one segment over a stretch long enough shows its label.
  for (int c = 0; c < w;) {
    if (dominant[c].seg < 0) {
      ++c;
      continue;
    }
    const int seg = dominant[c].seg;
    int end = c;
    while (end < w && dominant[end].seg == seg) ++end;
    const Segment& s = row.segments[seg];
    const bool hard = s.kind == Kind::kIrq;
    const Style st = hard ? Style::kIrq : Style::kSoftirq;
    for (int i = c; i < end; ++i) bar[i] = {hard ? '^' : '~', st};
    if (end - c >= static_cast<int>(s.label.size()) + 2)
      for (std::size_t k = 0; k < s.label.size(); ++k)
        bar[c + 1 + static_cast<int>(k)] = {s.label[k], st};
    c = end;
  }
  return bar;
}

std::string holder_text(const json& tl) {
  auto h = tl.find("holder");
  if (h == tl.end() || !h->is_object()) return "none recorded";
  std::string label = str(*h, "label");
  if (label.empty()) label = str(*h, "comm");
  const std::string kind = str(*h, "kind");
  std::string detail = kind;
  if (get_or<bool>(*h, "rt", false))
    detail += fmt::format("{}real-time priority {}", detail.empty() ? "" : ", ",
                          99 - get_or<int>(*h, "prio", 99));
  const double share = get_or<double>(*h, "share", -1.0);
  if (share >= 0)
    detail += fmt::format("{}{:.0f}% of the silence", detail.empty() ? "" : ", ",
                          std::min(share, 1.0) * 100);
  return (label.empty() ? std::string("?") : label) + (detail.empty() ? "" : " (" + detail + ")");
}

// The ruler: tick labels, then the axis with S (the silence) and D (the detection).
void emit_ruler(std::string& out, const Scale& sc, std::int64_t silence, bool silence_ok,
                std::size_t indent, bool colour) {
  const int w = sc.width;
  const std::int64_t origin = silence_ok ? silence : sc.t0 + sc.span;
  // The smallest 1-2-5 step at least 10 columns wide.
  std::int64_t step = 1000;
  for (std::int64_t decade = 1000; decade <= Scale::kMaxSpan; decade *= 10) {
    bool found = false;
    for (std::int64_t m : {1, 2, 5}) {
      step = decade * m;
      if (step * w >= 10 * sc.span) {
        found = true;
        break;
      }
    }
    if (found) break;
  }
  auto label_of = [&](std::int64_t off) -> std::string {
    if (off == 0) return "0";
    const double v = static_cast<double>(off);
    if (step >= 100'000'000) return fmt::format("{:+g}s", v / 1e9);
    if (step >= 100'000) return fmt::format("{:+g}ms", v / 1e6);
    return fmt::format("{:+g}us", v / 1e3);
  };
  Line axis(w, Cell{'-', Style::kNone});
  std::string labels(w, ' ');
  std::vector<bool> used(w, false);
  auto place = [&](const std::string& text, int at) {
    const int len = static_cast<int>(text.size());
    if (len > w) return;
    int from = std::clamp(at - len / 2, 0, w - len);
    for (int i = std::max(0, from - 1); i < std::min(w, from + len + 1); ++i)
      if (used[i]) return;  // keep a blank between labels
    for (int i = 0; i < len; ++i) labels[from + i] = text[i], used[from + i] = true;
  };
  const std::int64_t k0 = floor_div(sc.t0 - origin + step - 1, step);
  const std::int64_t k1 = floor_div(sc.t0 + sc.span - origin, step);
  if (origin >= sc.t0 && origin <= sc.t0 + sc.span) place("0", sc.col(origin));
  for (std::int64_t k = k0; k <= k1; ++k) {
    const int c = sc.col(origin + k * step);
    axis[c] = {'+', Style::kNone};
    if (k != 0) place(label_of(k * step), c);
  }
  if (silence_ok) axis[sc.col(silence)] = {'S', Style::kMarker};
  axis[w - 1] = {'D', Style::kMarker};
  emit(out, std::string(indent, ' ') + labels, colour);
  Line line;
  put(line, std::string(indent, ' '));
  line.insert(line.end(), axis.begin(), axis.end());
  put(line, fmt::format(" {:>7}", "irq/s"));
  emit(out, std::move(line), colour);
}

}  // namespace

std::string render_timeline(const json& tl, int columns, bool colour) {
  const std::size_t width =
      static_cast<std::size_t>(std::clamp(columns, kTimelineMinColumns, kTimelineMaxColumns));
  std::string out;
  if (!tl.is_object()) {
    emit(out, "timeline: none in this report", colour);
    return out;
  }
  const std::string status = str(tl, "status");
  const std::string note = str(tl, "note");
  if (status != "recorded") {
    emit_text(out,
              fmt::format("timeline: {}{}", status.empty() ? "(no status)" : status,
                          note.empty() ? "" : ": " + note),
              width, colour);
    return out;
  }
  const std::int64_t t0 = get_or<std::int64_t>(tl, "window_start_mono_ns", 0);
  const std::int64_t t1 = get_or<std::int64_t>(tl, "detected_mono_ns", 0);
  const std::int64_t silence = get_or<std::int64_t>(tl, "silence_mono_ns", -1);
  // (unsigned: t1 - t0 of two arbitrary int64 values may not fit in one)
  if (t1 <= t0 || static_cast<std::uint64_t>(t1) - static_cast<std::uint64_t>(t0) >
                      static_cast<std::uint64_t>(Scale::kMaxSpan)) {
    emit_text(
        out,
        fmt::format("timeline: recorded, but its window is not usable (start {}, detected {})", t0,
                    t1),
        width, colour);
    return out;
  }
  const bool silence_ok = silence >= t0 && silence <= t1;
  const int stalled_cpu = get_or<int>(tl, "stalled_cpu", -1);
  std::vector<CpuRow> all = read_cpus(tl, t1);
  // Only the window is drawn: every time from here on lies in [t0, t1], so no difference of two
  // of them overflows whatever the file says.
  for (auto& row : all) {
    auto& segs = row.segments;
    segs.erase(std::remove_if(segs.begin(), segs.end(),
                              [&](const Segment& s) { return s.end < t0 || s.start > t1; }),
               segs.end());
    for (auto& s : segs) {
      s.start = std::clamp(s.start, t0, t1);
      s.end = std::clamp(s.end, t0, t1);
    }
  }

  // Rows: the stalled CPU first (drawn even with no events), then every CPU with events.
  std::vector<CpuRow> rows;
  auto stalled_it =
      std::find_if(all.begin(), all.end(), [&](const CpuRow& r) { return r.cpu == stalled_cpu; });
  if (stalled_it != all.end()) {
    rows.push_back(*stalled_it);
  } else if (stalled_cpu >= 0) {
    CpuRow r;
    r.cpu = stalled_cpu;
    rows.push_back(r);
  }
  std::vector<const CpuRow*> others;
  int quiet = 0;
  for (const auto& r : all)
    if (r.cpu != stalled_cpu) {
      if (r.has_events())
        others.push_back(&r);
      else
        ++quiet;
    }
  std::sort(others.begin(), others.end(),
            [](const CpuRow* a, const CpuRow* b) { return a->cpu < b->cpu; });
  int left_out = 0;
  for (const CpuRow* r : others) {
    if (static_cast<int>(rows.size()) < kTimelineMaxRows)
      rows.push_back(*r);
    else
      ++left_out;
  }

  // Header.
  const std::string cpu_text = stalled_cpu >= 0 ? fmt::format("CPU {}", stalled_cpu) : "CPU ?";
  auto after = tl.find("silent_after");
  std::string after_text =
      after != tl.end() && after->is_object() ? str(*after, "text") : std::string();
  if (after_text.empty()) after_text = "(not recorded)";
  const std::string holder = holder_text(tl);
  std::string head =
      fmt::format("{} stalled: silent after {}; holder {}", cpu_text, after_text, holder);
  if (head.size() <= width) {
    emit(out, head, colour, Style::kBold);
  } else {
    emit(out, fit(fmt::format("{} stalled: silent after {}", cpu_text, after_text), width), colour,
         Style::kBold);
    emit(out, fit("holder " + holder, width), colour, Style::kBold);
  }

  // Geometry: ">cpuN |" + bar + "|" + 7 columns of rate.
  std::size_t digits = 1;
  for (const auto& r : rows) digits = std::max(digits, std::to_string(r.cpu).size());
  const std::size_t prefix = 1 + 3 + digits + 1;
  const int bar_w = static_cast<int>(width - prefix - 1 - 1 - 7);
  Scale sc{t0, t1 - t0, bar_w};
  emit_ruler(out, sc, silence, silence_ok, prefix + 1, colour);

  std::string holder_label;
  if (auto h = tl.find("holder"); h != tl.end() && h->is_object()) holder_label = str(*h, "label");
  Letters letters;
  for (const auto& r : rows) {
    const bool stalled = r.cpu == stalled_cpu;
    Line line;
    put(line, fmt::format("{}cpu{:<{}} ", stalled ? '>' : ' ', r.cpu, digits),
        stalled ? Style::kBold : Style::kNone);
    put(line, "|");
    Line bar = draw_bar(r, sc, holder_label, letters, stalled);
    line.insert(line.end(), bar.begin(), bar.end());
    put(line, "|");
    put(line, fmt::format("{:>7}", rate_text(r.irq_per_s)),
        r.irq_per_s >= kTimelineHeavyIrqPerS ? Style::kAlert : Style::kNone);
    emit(out, std::move(line), colour);
  }

  // Under the picture: the scale, what was not drawn, caveats, the legend.
  const std::int64_t span = t1 - t0;
  if (silence_ok)
    emit_text(out,
              fmt::format("window {} (silence S at -{}, detection D at +{}), 1 column = {}",
                          duration(span), duration(silence - t0), duration(t1 - silence),
                          duration(span / bar_w)),
              width, colour);
  else
    emit_text(out,
              fmt::format("window {} up to the detection D (the silence is outside it), "
                          "1 column = {}",
                          duration(span), duration(span / bar_w)),
              width, colour);
  if (stalled_it == all.end() && stalled_cpu >= 0)
    emit(out, fit(fmt::format("cpu{}: no events recorded", stalled_cpu), width), colour);
  if (left_out > 0 || quiet > 0) {
    std::string s = "not drawn: ";
    if (left_out > 0)
      s += fmt::format("{} more CPU{} with events ({} rows at most)", left_out,
                       left_out == 1 ? "" : "s", kTimelineMaxRows);
    if (quiet > 0)
      s += fmt::format("{}{} CPU{} without events", left_out > 0 ? ", " : "", quiet,
                       quiet == 1 ? "" : "s");
    emit_text(out, s, width, colour);
  }
  int caveats = 0;
  constexpr int kMaxCaveats = 8;
  for (const auto& r : rows) {
    std::vector<std::string> parts;
    if (r.irq_per_s >= kTimelineHeavyIrqPerS) {
      std::map<std::string, int> count;
      for (const auto& s : r.segments)
        if (s.kind == Kind::kIrq) ++count[s.label];
      auto most = std::max_element(count.begin(), count.end(), [](const auto& a, const auto& b) {
        return a.second < b.second;
      });
      parts.push_back(fmt::format("IRQ-heavy, {} hard IRQs/s{}", rate_text(r.irq_per_s),
                                  most == count.end() ? "" : ", most often " + most->first));
    }
    if (r.lost) parts.push_back("events lost (the kernel overwrote some)");
    if (r.truncated > 0) parts.push_back(fmt::format("{} short segments left out", r.truncated));
    if (parts.empty()) continue;
    if (++caveats > kMaxCaveats) continue;
    std::string s = fmt::format("cpu{}: ", r.cpu);
    for (std::size_t i = 0; i < parts.size(); ++i) s += (i ? "; " : "") + parts[i];
    emit_text(out, s, width, colour);
  }
  if (caveats > kMaxCaveats)
    emit(out, fmt::format("({} more CPUs with caveats)", caveats - kMaxCaveats), colour);
  if (!note.empty()) emit_text(out, "note: " + note, width, colour);
  const std::string source = str(tl, "source");
  const std::int64_t read_ns = get_or<std::int64_t>(tl, "read_ns", -1);
  if (!source.empty() || read_ns >= 0)
    emit_text(out,
              fmt::format("source: {}{}", source.empty() ? "?" : source,
                          read_ns >= 0 ? fmt::format(", read in {}", duration(read_ns)) : ""),
              width, colour);
  emit_wrapped(out, "legend:",
               {"> stalled CPU", "= task", ". idle", "^ hard IRQ", "~ softirq", "' heartbeat",
                "S silence (last heartbeat)", "D detection", "blank: nothing recorded"},
               width, colour);
  if (!letters.labels.empty()) {
    std::vector<std::string> items;
    for (std::size_t i = 0; i < letters.labels.size(); ++i)
      items.push_back(fmt::format("{} {}", kLetters[i], letters.labels[i]));
    if (letters.overflow) items.push_back("? other tasks");
    emit_wrapped(out, "tasks:", items, width, colour);
  }
  return out;
}

json pick_timeline(const ReportEntry& e) {
  std::vector<const json*> updates;
  if (auto u = e.doc.find("updates"); u != e.doc.end() && u->is_array())
    for (const auto& x : *u)
      if (x.is_object()) updates.push_back(&x);
  if (updates.empty() && e.doc.is_object()) updates.push_back(&e.doc);
  auto timeline_of = [](const json& u) -> const json* {
    auto t = u.find("timeline");
    return t != u.end() && t->is_object() ? &*t : nullptr;
  };
  auto recorded = [](const json* t) {
    return t != nullptr && get_or<std::string>(*t, "status", "") == "recorded";
  };
  const json* primary = e.primary.is_object() ? timeline_of(e.primary) : nullptr;
  if (recorded(primary)) return *primary;
  for (auto it = updates.rbegin(); it != updates.rend(); ++it)
    if (recorded(timeline_of(**it))) return *timeline_of(**it);
  if (primary != nullptr) return *primary;
  for (auto it = updates.rbegin(); it != updates.rend(); ++it)
    if (const json* t = timeline_of(**it)) return *t;
  return nullptr;
}

std::string format_report_timeline(const ReportEntry& e, int columns, bool colour) {
  const std::size_t width =
      static_cast<std::size_t>(std::clamp(columns, kTimelineMinColumns, kTimelineMaxColumns));
  std::string out;
  if (e.parse_error) {
    emit(out, fit(ascii(e.path) + ": not a readable JSON report", width), colour);
    return out;
  }
  const json tl = pick_timeline(e);
  if (tl.is_null()) {
    emit(out, "timeline: none in this report (written without the flight recorder)", colour);
    return out;
  }
  return render_timeline(tl, columns, colour);
}

int terminal_columns() {
  int cols = 0;
  if (const char* env = std::getenv("COLUMNS"); env != nullptr && *env != '\0') {
    std::string_view s(env);
    int v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size() && v > 0) cols = v;
  }
  if (cols == 0) {
    winsize ws{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) cols = ws.ws_col;
  }
  if (cols == 0) return kTimelineMinColumns;
  return std::clamp(cols, kTimelineMinColumns, kTimelineMaxColumns);
}

bool want_colour() { return ::isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr; }

}  // namespace stallwatch::ctl

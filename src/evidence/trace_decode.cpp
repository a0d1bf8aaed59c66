// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/trace_decode.h"

extern "C" {
#include <traceevent/kbuffer.h>
}

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "stallwatch/core/text.h"

namespace stallwatch::evidence {

namespace {

constexpr std::size_t kPageHeader = 8 + sizeof(long);  // u64 timestamp, local_t commit
constexpr std::uint64_t kCommitMask = (1u << 27) - 1;  // kbuffer's COMMIT_MASK
constexpr std::uint64_t kMissedEvents = 1ul << 31;

bool parse_int(std::string_view s, int* out) {
  s = trim(s);
  if (s.empty() || s.size() > 9) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

// "field:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;"
bool parse_field_line(std::string_view line, std::string* name, TraceField* f) {
  line = trim(line);
  if (line.rfind("field:", 0) != 0) return false;
  line.remove_prefix(6);
  std::size_t semi = line.find(';');
  if (semi == std::string_view::npos) return false;
  std::string_view decl = trim(line.substr(0, semi));
  std::size_t bracket = decl.find('[');
  std::string_view base = decl;
  // "char prev_comm[16]" -> the name is before '['; "__data_loc char[] name" -> the last word.
  if (bracket != std::string_view::npos) {
    std::string_view before = trim(decl.substr(0, bracket));
    std::string_view after = trim(decl.substr(decl.find(']', bracket) == std::string_view::npos
                                                  ? decl.size()
                                                  : decl.find(']', bracket) + 1));
    base = after.empty() ? before : after;
  }
  std::size_t sp = base.find_last_of(" \t*");
  std::string_view nm = sp == std::string_view::npos ? base : base.substr(sp + 1);
  if (nm.empty()) return false;
  *name = std::string(nm);
  f->data_loc = decl.rfind("__data_loc", 0) == 0;
  std::string_view rest = line.substr(semi + 1);
  bool have_offset = false, have_size = false;
  while (!rest.empty()) {
    std::size_t end = rest.find(';');
    std::string_view item = trim(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    std::size_t colon = item.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view key = item.substr(0, colon), val = item.substr(colon + 1);
    int v = 0;
    if (!parse_int(val, &v)) continue;
    if (key == "offset") have_offset = true, f->offset = v;
    if (key == "size") have_size = true, f->size = v;
    if (key == "signed") f->is_signed = v != 0;
  }
  return have_offset && have_size;
}

// Reads an integer field of 1, 2, 4 or 8 bytes; false when it lies outside the record.
bool read_int(const unsigned char* rec, std::size_t len, const TraceField& f, std::int64_t* out) {
  if (f.offset < 0 || f.size <= 0 || static_cast<std::size_t>(f.offset) + f.size > len)
    return false;
  const unsigned char* p = rec + f.offset;
  switch (f.size) {
    case 1: {
      std::uint8_t v;
      std::memcpy(&v, p, 1);
      *out = f.is_signed ? static_cast<std::int8_t>(v) : v;
      return true;
    }
    case 2: {
      std::uint16_t v;
      std::memcpy(&v, p, 2);
      *out = f.is_signed ? static_cast<std::int16_t>(v) : v;
      return true;
    }
    case 4: {
      std::uint32_t v;
      std::memcpy(&v, p, 4);
      *out = f.is_signed ? static_cast<std::int32_t>(v) : static_cast<std::int64_t>(v);
      return true;
    }
    case 8: {
      std::uint64_t v;
      std::memcpy(&v, p, 8);
      *out = static_cast<std::int64_t>(v);
      return true;
    }
    default: return false;
  }
}

// A char array or a __data_loc string into a 16-byte buffer (NUL-terminated, truncated).
template <std::size_t N>
void read_str(const unsigned char* rec, std::size_t len, const TraceField& f, char (&out)[N]) {
  std::size_t off = 0, n = 0;
  if (f.data_loc) {
    std::int64_t loc = 0;
    TraceField u32 = f;
    u32.size = 4;
    u32.is_signed = false;
    if (!read_int(rec, len, u32, &loc)) return;
    off = static_cast<std::size_t>(loc & 0xffff);
    n = static_cast<std::size_t>((loc >> 16) & 0xffff);
  } else {
    if (f.offset < 0 || f.size <= 0) return;
    off = static_cast<std::size_t>(f.offset);
    n = static_cast<std::size_t>(f.size);
  }
  if (off >= len) return;
  n = std::min({n, len - off, sizeof out - 1});
  const unsigned char* p = rec + off;
  std::size_t i = 0;
  for (; i < n && p[i] != 0; ++i) out[i] = static_cast<char>(p[i]);
  out[i] = 0;
}

Result<TraceField> need(const TraceFormat& fmt, const char* field) {
  auto it = fmt.fields.find(field);
  if (it == fmt.fields.end())
    return make_error("trace event {}: no field {} in its format", fmt.name, field);
  return it->second;
}

}  // namespace

Result<TraceFormat> parse_trace_format(std::string_view text) {
  TraceFormat out;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    std::string_view t = trim(line);
    if (t.rfind("name:", 0) == 0) {
      out.name = std::string(trim(t.substr(5)));
    } else if (t.rfind("ID:", 0) == 0) {
      if (!parse_int(t.substr(3), &out.id)) return make_error("format: bad ID line");
    } else if (t.rfind("field:", 0) == 0) {
      std::string name;
      TraceField f;
      if (parse_field_line(t, &name, &f)) out.fields.emplace(std::move(name), f);
    } else if (t.rfind("print fmt:", 0) == 0) {
      break;
    }
  }
  if (out.id < 0) return make_error("format{}{}: no ID", out.name.empty() ? "" : " of ", out.name);
  if (out.id > 0xffff) return make_error("format of {}: ID {} out of range", out.name, out.id);
  return out;
}

Result<TraceSchema> make_trace_schema(const std::map<std::string, std::string>& formats) {
  TraceSchema s;
  auto get = [&](const char* key) -> Result<TraceFormat> {
    auto it = formats.find(key);
    if (it == formats.end()) return make_error("trace event {}: no format", key);
    auto f = parse_trace_format(it->second);
    if (!f) return make_error("trace event {}: {}", key, f.error().message);
    if (f->name.empty()) f->name = key;
    return f;
  };
#define SW_NEED(dst, fmtv, field) \
  do {                            \
    auto r_ = need(fmtv, field);  \
    if (!r_) return r_.error();   \
    dst = *r_;                    \
  } while (0)
  {
    auto f = get("sched/sched_switch");
    if (!f) return f.error();
    s.sched_switch.id = f->id;
    SW_NEED(s.sched_switch.prev_comm, *f, "prev_comm");
    SW_NEED(s.sched_switch.prev_pid, *f, "prev_pid");
    SW_NEED(s.sched_switch.prev_prio, *f, "prev_prio");
    SW_NEED(s.sched_switch.prev_state, *f, "prev_state");
    SW_NEED(s.sched_switch.next_comm, *f, "next_comm");
    SW_NEED(s.sched_switch.next_pid, *f, "next_pid");
    SW_NEED(s.sched_switch.next_prio, *f, "next_prio");
  }
  {
    auto f = get("irq/irq_handler_entry");
    if (!f) return f.error();
    s.irq_entry.id = f->id;
    SW_NEED(s.irq_entry.irq, *f, "irq");
    SW_NEED(s.irq_entry.name, *f, "name");
  }
  {
    auto f = get("irq/irq_handler_exit");
    if (!f) return f.error();
    s.irq_exit.id = f->id;
    SW_NEED(s.irq_exit.irq, *f, "irq");
    SW_NEED(s.irq_exit.ret, *f, "ret");
  }
  for (auto [key, dst] : {std::pair{"irq/softirq_entry", &s.softirq_entry},
                          std::pair{"irq/softirq_exit", &s.softirq_exit}}) {
    auto f = get(key);
    if (!f) return f.error();
    dst->id = f->id;
    SW_NEED(dst->vec, *f, "vec");
  }
  if (formats.count("task/task_rename")) {
    auto f = get("task/task_rename");
    if (!f) return f.error();
    s.task_rename.id = f->id;
    SW_NEED(s.task_rename.pid, *f, "pid");
    SW_NEED(s.task_rename.newcomm, *f, "newcomm");
  }
  for (auto [key, dst] : {std::pair{"irq_vectors/local_timer_entry", &s.local_timer_entry},
                          std::pair{"irq_vectors/local_timer_exit", &s.local_timer_exit}}) {
    if (!formats.count(key)) continue;
    auto f = get(key);
    if (!f) return f.error();
    dst->id = f->id;
  }
#undef SW_NEED
  return s;
}

TraceDecoder::TraceDecoder(TraceSchema schema)
    : schema_(schema),
      kbuf_(kbuffer_alloc(KBUFFER_LSIZE_SAME_AS_HOST, KBUFFER_ENDIAN_SAME_AS_HOST)) {}

TraceDecoder::~TraceDecoder() {
  if (kbuf_ != nullptr) kbuffer_free(kbuf_);
}

TraceDecoder::PageResult TraceDecoder::decode(std::string_view page, std::vector<TraceEvent>* out) {
  PageResult r;
  if (kbuf_ == nullptr || page.size() < kPageHeader) {
    r.malformed = !page.empty();
    return r;
  }
  // An aligned copy with slack after it: kbuffer reads record headers without a length check.
  scratch_.assign(page.size() / 8 + 16, 0);
  auto* base = reinterpret_cast<unsigned char*>(scratch_.data());
  std::memcpy(base, page.data(), page.size());
  unsigned long commit = 0;
  std::memcpy(&commit, base + 8, sizeof commit);
  const std::size_t data_len = commit & kCommitMask;
  r.missed = (commit & kMissedEvents) != 0;
  if (data_len > page.size() - kPageHeader) {
    r.malformed = true;
    return r;
  }
  if (data_len == 0) return r;
  if (kbuffer_load_subbuffer(kbuf_, base) < 0) {
    r.malformed = true;
    return r;
  }
  const unsigned char* data_end = base + kPageHeader + data_len;
  unsigned long long ts = 0;
  std::size_t guard = data_len / 4 + 1;
  for (void* p = kbuffer_read_event(kbuf_, &ts); p != nullptr && guard > 0;
       p = kbuffer_next_event(kbuf_, &ts), --guard) {
    const auto* rec = static_cast<const unsigned char*>(p);
    const int size = kbuffer_event_size(kbuf_);
    if (rec < base + kPageHeader || size < 2 || rec + size > data_end) {
      r.malformed = true;
      break;
    }
    const auto len = static_cast<std::size_t>(size);
    std::uint16_t type = 0;
    std::memcpy(&type, rec, 2);
    TraceEvent e;
    e.ts = static_cast<std::int64_t>(ts);
    std::int64_t v = 0;
    bool ok = true;
    if (type == schema_.sched_switch.id) {
      const auto& s = schema_.sched_switch;
      e.kind = TraceKind::kSwitch;
      ok = read_int(rec, len, s.next_pid, &v) && (e.num = static_cast<std::int32_t>(v), true) &&
           read_int(rec, len, s.next_prio, &v) && (e.prio = static_cast<std::int32_t>(v), true) &&
           read_int(rec, len, s.prev_pid, &v) &&
           (e.prev_pid = static_cast<std::int32_t>(v), true) &&
           read_int(rec, len, s.prev_prio, &v) &&
           (e.prev_prio = static_cast<std::int32_t>(v), true) &&
           read_int(rec, len, s.prev_state, &e.prev_state);
      read_str(rec, len, s.next_comm, e.name);
      read_str(rec, len, s.prev_comm, e.prev_name);
    } else if (type == schema_.irq_entry.id) {
      e.kind = TraceKind::kIrqEntry;
      ok = read_int(rec, len, schema_.irq_entry.irq, &v);
      e.num = static_cast<std::int32_t>(v);
      read_str(rec, len, schema_.irq_entry.name, e.name);
    } else if (type == schema_.irq_exit.id) {
      e.kind = TraceKind::kIrqExit;
      ok = read_int(rec, len, schema_.irq_exit.irq, &v);
      e.num = static_cast<std::int32_t>(v);
      if (ok && read_int(rec, len, schema_.irq_exit.ret, &v)) e.prio = static_cast<std::int32_t>(v);
    } else if (type == schema_.softirq_entry.id || type == schema_.softirq_exit.id) {
      e.kind =
          type == schema_.softirq_entry.id ? TraceKind::kSoftirqEntry : TraceKind::kSoftirqExit;
      ok = read_int(
          rec, len,
          type == schema_.softirq_entry.id ? schema_.softirq_entry.vec : schema_.softirq_exit.vec,
          &v);
      e.num = static_cast<std::int32_t>(v);
    } else if (schema_.local_timer_entry.id >= 0 &&
               (type == schema_.local_timer_entry.id || type == schema_.local_timer_exit.id)) {
      e.kind = type == schema_.local_timer_entry.id ? TraceKind::kIrqEntry : TraceKind::kIrqExit;
      e.num = kLocalTimerIrq;
    } else if (type == schema_.task_rename.id && schema_.task_rename.id >= 0) {
      e.kind = TraceKind::kRename;
      ok = read_int(rec, len, schema_.task_rename.pid, &v);
      e.num = static_cast<std::int32_t>(v);
      read_str(rec, len, schema_.task_rename.newcomm, e.name);
    } else {
      continue;  // another event (or padding the kernel left typed): not ours
    }
    if (!ok) {
      r.malformed = true;
      continue;
    }
    out->push_back(e);
    ++r.events;
  }
  return r;
}

std::string softirq_name(int vec) {
  static constexpr const char* kNames[] = {"HI",       "TIMER",   "NET_TX", "NET_RX",  "BLOCK",
                                           "IRQ_POLL", "TASKLET", "SCHED",  "HRTIMER", "RCU"};
  if (vec >= 0 && vec < static_cast<int>(std::size(kNames))) return kNames[vec];
  return fmt::format("vec {}", vec);
}

}  // namespace stallwatch::evidence

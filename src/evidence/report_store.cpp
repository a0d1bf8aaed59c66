// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/report_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "stallwatch/core/fs_util.h"
#include "stallwatch/core/unique_fd.h"

namespace stallwatch::evidence {

ReportStore::ReportStore(std::string dir, int max_reports, std::int64_t max_bytes)
    : dir_(std::move(dir)), max_reports_(max_reports), max_bytes_(max_bytes) {}

namespace {

bool is_report(const std::string& name) {
  return name.size() > 11 && name.compare(0, 6, "stall-") == 0 &&
         name.compare(name.size() - 5, 5, ".json") == 0;
}

}  // namespace

namespace {

// "stall-X.json", n -> "stall-X-n.json" (n = 0: unchanged).
std::string numbered(const std::string& name, int n) {
  if (n == 0) return name;
  std::size_t dot = name.rfind('.');
  if (dot == std::string::npos) return name + "-" + std::to_string(n);
  return name.substr(0, dot) + "-" + std::to_string(n) + name.substr(dot);
}

// Moves tmp to a name that does not exist yet: never replaces a file (another run's report,
// or anything planted there). EEXIST on every try: an error.
Result<std::string> publish(const std::string& dir, const std::string& tmp,
                            const std::string& name) {
  for (int n = 0; n < kReportNameTries; ++n) {
    const std::string final_path = dir + "/" + numbered(name, n);
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_path.c_str(), RENAME_NOREPLACE) == 0)
      return final_path;
    if (errno == EEXIST) continue;
    if (errno != EINVAL && errno != ENOSYS)
      return make_error("rename {}: {}", final_path, std::strerror(errno));
    // No RENAME_NOREPLACE on this file system: link() never replaces either.
    if (::link(tmp.c_str(), final_path.c_str()) == 0) {
      ::unlink(tmp.c_str());
      return final_path;
    }
    if (errno == EEXIST) continue;
    return make_error("link {}: {}", final_path, std::strerror(errno));
  }
  return make_error("{}/{}: {} files of that name already exist", dir, name, kReportNameTries);
}

}  // namespace

Result<std::string> ReportStore::write_once(const std::string& name, std::string_view content) {
  if (auto s = make_dirs(dir_, 0750); !s) return s.error();
  std::string tmp = dir_ + "/." + name + ".tmp";
  // A stale temp file (crash) is removed; the new one is created exclusively and never through
  // a symlink, so nothing planted at that name is written through.
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT)
    return make_error("{}: {}", tmp, std::strerror(errno));
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640));
  if (!fd.valid()) return make_error("{}: {}", tmp, std::strerror(errno));
  std::size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return make_error("{}: {}", tmp, std::strerror(err));
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fdatasync(fd.get()) != 0 && errno != EINVAL) {
    int err = errno;
    ::unlink(tmp.c_str());
    return make_error("{}: fdatasync: {}", tmp, std::strerror(err));
  }
  fd.reset();
  Result<std::string> final_path = std::string();
  if (auto mine = claimed_.find(name); mine != claimed_.end()) {
    // A later update of a file this run created: replace it in place.
    final_path = dir_ + "/" + mine->second;
    if (::rename(tmp.c_str(), final_path->c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return make_error("rename {}: {}", *final_path, std::strerror(err));
    }
  } else {
    final_path = publish(dir_, tmp, name);
    if (!final_path) {
      ::unlink(tmp.c_str());
      return final_path;
    }
    claimed_[name] = final_path->substr(dir_.size() + 1);
  }
  UniqueFd dfd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.valid()) ::fsync(dfd.get());
  return final_path;
}

Result<std::string> ReportStore::write(const std::string& name, std::string_view content,
                                       std::int64_t now_mono_ns) {
  auto r = write_once(name, content);
  if (!r) {
    ++failures_;
    log_failure(r.error().message, now_mono_ns);
    return r;
  }
  prune(r->substr(r->rfind('/') + 1));  // the name really used (maybe numbered)
  return r;
}

void ReportStore::log_failure(const std::string& message, std::int64_t now_mono_ns) {
  if (logged_ && now_mono_ns - last_log_ns_ < kReportErrorLogIntervalNs) {
    ++suppressed_;
    return;
  }
  if (suppressed_ > 0)
    spdlog::warn("cannot write stall report: {} ({} more failures since the last message); "
                 "monitoring continues",
                 message, suppressed_);
  else
    spdlog::warn("cannot write stall report: {}; monitoring continues", message);
  logged_ = true;
  last_log_ns_ = now_mono_ns;
  suppressed_ = 0;
}

void ReportStore::prune(const std::string& keep_name) {
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return;
  struct Entry {
    std::string name;
    std::int64_t mtime_ns;
    std::int64_t bytes;
  };
  std::vector<Entry> files;
  std::int64_t total = 0;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    struct stat st {};
    if (::fstatat(dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
      continue;
    // A temp file left by a crash: the store is the only writer, so none is in progress.
    if (name.size() > 5 && name[0] == '.' && name.compare(name.size() - 4, 4, ".tmp") == 0) {
      ::unlinkat(dirfd(d), name.c_str(), 0);
      continue;
    }
    if (!is_report(name)) continue;
    std::int64_t mtime = std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
    files.push_back({name, mtime, static_cast<std::int64_t>(st.st_size)});
    total += st.st_size;
  }
  int dir_fd = ::dup(dirfd(d));
  ::closedir(d);
  UniqueFd dfd(dir_fd);
  std::sort(files.begin(), files.end(), [](const Entry& a, const Entry& b) {
    return a.mtime_ns != b.mtime_ns ? a.mtime_ns < b.mtime_ns : a.name < b.name;
  });
  std::size_t count = files.size();
  for (const auto& f : files) {
    bool over = static_cast<std::int64_t>(count) > max_reports_ || total > max_bytes_;
    if (!over) break;
    if (f.name == keep_name) continue;
    if (::unlinkat(dfd.get(), f.name.c_str(), 0) == 0) {
      --count;
      total -= f.bytes;
      std::erase_if(claimed_, [&](const auto& kv) { return kv.second == f.name; });
    }
  }
}

}  // namespace stallwatch::evidence

#include "stallwatch/evidence/report_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "stallwatch/fs_util.h"
#include "stallwatch/unique_fd.h"

namespace stallwatch::evidence {

ReportStore::ReportStore(std::string dir, int max_reports, std::int64_t max_bytes)
    : dir_(std::move(dir)), max_reports_(max_reports), max_bytes_(max_bytes) {}

namespace {

bool is_report(const std::string& name) {
  return name.size() > 11 && name.compare(0, 6, "stall-") == 0 &&
         name.compare(name.size() - 5, 5, ".json") == 0;
}

}  // namespace

Result<std::string> ReportStore::write_once(const std::string& name, std::string_view content) {
  if (auto s = make_dirs(dir_, 0750); !s) return s.error();
  std::string final_path = dir_ + "/" + name;
  std::string tmp = dir_ + "/." + name + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
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
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return make_error("rename {}: {}", final_path, std::strerror(err));
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
  prune(name);
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
    }
  }
}

}  // namespace stallwatch::evidence

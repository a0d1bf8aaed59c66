// SPDX-License-Identifier: GPL-2.0-or-later
// The sd_notify protocol and the watchdog variables against real AF_UNIX sockets, as systemd's
// manager would hand them out: a path, or '@' for the abstract namespace.
#include "stallwatch/core/systemd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace stallwatch {
namespace {

// Sets an environment variable for one test and puts the old value back.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value->c_str(), 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// The manager's side of $NOTIFY_SOCKET.
class Manager {
 public:
  explicit Manager(bool abstract) {
    fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    socklen_t len = 0;
    if (abstract) {
      name_ = fmt::format("@stallwatch-notify-test-{}", ::getpid());
      std::memcpy(addr.sun_path + 1, name_.data() + 1, name_.size() - 1);
      len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size());
    } else {
      char tmpl[] = "/tmp/sw-notify-XXXXXX";
      dir_ = ::mkdtemp(tmpl);
      name_ = dir_ + "/notify";
      std::strncpy(addr.sun_path, name_.c_str(), sizeof addr.sun_path - 1);
      len = sizeof addr;
    }
    EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), len), 0)
        << std::strerror(errno);
  }
  ~Manager() {
    fd_.reset();
    if (!dir_.empty()) {
      ::unlink(name_.c_str());
      ::rmdir(dir_.c_str());
    }
  }
  const std::string& name() const { return name_; }
  std::string receive() {
    char buf[512];
    const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
    return n < 0 ? std::string("<nothing>") : std::string(buf, static_cast<std::size_t>(n));
  }

 private:
  std::string dir_;
  std::string name_;
  UniqueFd fd_;
};

TEST(SystemdNotify, SendsToAPathSocket) {
  Manager manager(false);
  ScopedEnv env("NOTIFY_SOCKET", manager.name());
  EXPECT_EQ(notify_service_manager("WATCHDOG=trigger"), 1);
  EXPECT_EQ(manager.receive(), "WATCHDOG=trigger");
}

TEST(SystemdNotify, SendsToAnAbstractSocket) {
  Manager manager(true);
  ScopedEnv env("NOTIFY_SOCKET", manager.name());
  UniqueFd fd = connect_notify_socket(SOCK_NONBLOCK);
  ASSERT_TRUE(fd.valid()) << std::strerror(errno);
  ASSERT_EQ(::send(fd.get(), "READY=1", 7, 0), 7);
  EXPECT_EQ(manager.receive(), "READY=1");
  EXPECT_EQ(notify_service_manager("WATCHDOG=1"), 1);
  EXPECT_EQ(manager.receive(), "WATCHDOG=1");
}

TEST(SystemdNotify, NotRunByAServiceManagerIsNotAnError) {
  ScopedEnv env("NOTIFY_SOCKET", std::nullopt);
  EXPECT_EQ(notify_service_manager("WATCHDOG=trigger"), 0);
  EXPECT_FALSE(connect_notify_socket().valid());
}

TEST(SystemdNotify, NobodyListeningIsAnError) {
  ScopedEnv env("NOTIFY_SOCKET", "/nonexistent/stallwatch/notify");
  EXPECT_EQ(notify_service_manager("WATCHDOG=trigger"), -ENOENT);
  ScopedEnv vsock("NOTIFY_SOCKET", "vsock:2:1234");
  EXPECT_EQ(notify_service_manager("WATCHDOG=trigger"), -EAFNOSUPPORT);
}

TEST(SystemdNotify, WatchdogUsecIsReadOnlyForThisProcess) {
  ScopedEnv usec("WATCHDOG_USEC", "4000000");
  {
    ScopedEnv pid("WATCHDOG_PID", std::to_string(::getpid()));
    EXPECT_EQ(watchdog_usec_from_env(false), 4'000'000u);
  }
  {
    ScopedEnv pid("WATCHDOG_PID", std::nullopt);
    EXPECT_EQ(watchdog_usec_from_env(false), 4'000'000u);
  }
  {
    ScopedEnv pid("WATCHDOG_PID", "1");  // the manager meant another process
    EXPECT_EQ(watchdog_usec_from_env(false), 0u);
  }
  {
    ScopedEnv bad("WATCHDOG_USEC", "4s");
    EXPECT_EQ(watchdog_usec_from_env(false), 0u);
  }
  {
    ScopedEnv zero("WATCHDOG_USEC", "0");
    EXPECT_EQ(watchdog_usec_from_env(false), 0u);
  }
}

TEST(SystemdNotify, WatchdogVariablesAreUnsetForChildren) {
  ScopedEnv usec("WATCHDOG_USEC", "4000000");
  ScopedEnv pid("WATCHDOG_PID", std::to_string(::getpid()));
  EXPECT_EQ(watchdog_usec_from_env(true), 4'000'000u);
  EXPECT_EQ(std::getenv("WATCHDOG_USEC"), nullptr);
  EXPECT_EQ(std::getenv("WATCHDOG_PID"), nullptr);
}

}  // namespace
}  // namespace stallwatch

// SPDX-License-Identifier: GPL-2.0-or-later
// journald's native protocol against a real AF_UNIX datagram socket bound in a temporary
// directory: what journald would read, in a datagram or in a sealed memfd.
#include "stallwatch/core/journal_socket.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "stallwatch/core/unique_fd.h"

namespace stallwatch {
namespace {

// journald's side: the fields of one entry (journal-native-protocol(7)).
std::multimap<std::string, std::string> decode(const std::string& d) {
  std::multimap<std::string, std::string> out;
  std::size_t i = 0;
  while (i < d.size()) {
    const auto nl = d.find('\n', i);
    if (nl == std::string::npos) ADD_FAILURE() << "entry does not end in a newline";
    if (nl == std::string::npos) break;
    const std::string line = d.substr(i, nl - i);
    const auto eq = line.find('=');
    if (eq != std::string::npos) {
      out.emplace(line.substr(0, eq), line.substr(eq + 1));
      i = nl + 1;
      continue;
    }
    std::uint64_t n = 0;
    for (int b = 0; b < 8; ++b)
      n |= static_cast<std::uint64_t>(static_cast<unsigned char>(d[nl + 1 + b])) << (8 * b);
    out.emplace(line, d.substr(nl + 9, n));
    EXPECT_EQ(d[nl + 9 + n], '\n');
    i = nl + 9 + n + 1;
  }
  return out;
}

class Journald {
 public:
  Journald() {
    char tmpl[] = "/tmp/sw-journal-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/socket";
    fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  ~Journald() {
    fd_.reset();
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }

  // One entry, and whether it came in a memfd.
  std::string receive(bool* in_memfd) {
    std::string buf(16 << 20, '\0');
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    EXPECT_GE(n, 0) << std::strerror(errno);
    if (n < 0) return {};
    *in_memfd = false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      int raw = -1;
      std::memcpy(&raw, CMSG_DATA(c), sizeof raw);
      UniqueFd mem(raw);
      *in_memfd = true;
      EXPECT_EQ(n, 0) << "a memfd entry carries no payload";
      // journald refuses a memfd that could still change.
      const int seals = ::fcntl(mem.get(), F_GET_SEALS);
      EXPECT_EQ(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL),
                F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
      struct stat st {};
      EXPECT_EQ(::fstat(mem.get(), &st), 0);
      std::string data(static_cast<std::size_t>(st.st_size), '\0');
      EXPECT_EQ(::pread(mem.get(), data.data(), data.size(), 0), st.st_size);
      return data;
    }
    buf.resize(static_cast<std::size_t>(n));
    return buf;
  }

 private:
  std::string dir_;
  std::string path_;
  UniqueFd fd_;
};

TEST(JournalSocket, EncodesPlainAndMultilineFieldsAsJournaldReadsThem) {
  const std::string entry =
      encode_journal_entry({"MESSAGE=CPU 1 stalled\nstack:\n  spin+0x10", "PRIORITY=2",
                            "STALLWATCH_CPU=1", "no equals sign", "=no key"});
  auto fields = decode(entry);
  EXPECT_EQ(fields.size(), 3u);
  EXPECT_EQ(fields.find("MESSAGE")->second, "CPU 1 stalled\nstack:\n  spin+0x10");
  EXPECT_EQ(fields.find("PRIORITY")->second, "2");
  EXPECT_EQ(fields.find("STALLWATCH_CPU")->second, "1");
  // The length is 64-bit little endian: 32 bytes of value.
  const std::string head = "MESSAGE\n";
  ASSERT_EQ(entry.compare(0, head.size(), head), 0);
  EXPECT_EQ(static_cast<unsigned char>(entry[head.size()]), 32u);
  for (int b = 1; b < 8; ++b) EXPECT_EQ(entry[head.size() + b], '\0');
}

TEST(JournalSocket, AnEntryGoesInOneDatagram) {
  Journald journald;
  JournalSocket sock(journald.path());
  const std::string big(100 << 10, 'x');  // a stall report's stacks: still one datagram
  ASSERT_TRUE(sock.send({"MESSAGE=stalled\nsecond line", "STALLWATCH_STACK=" + big}));
  bool in_memfd = true;
  auto fields = decode(journald.receive(&in_memfd));
  EXPECT_FALSE(in_memfd);
  EXPECT_EQ(fields.find("MESSAGE")->second, "stalled\nsecond line");
  EXPECT_EQ(fields.find("STALLWATCH_STACK")->second, big);
}

TEST(JournalSocket, AnEntryTooLargeForTheSocketGoesInASealedMemfd) {
  Journald journald;
  JournalSocket sock(journald.path());
  std::string huge(9 << 20, 'y');  // above the 8 MiB send buffer, forced or not
  huge[12345] = '\n';
  ASSERT_TRUE(sock.send({"MESSAGE=" + huge, "PRIORITY=6"})) << std::strerror(errno);
  bool in_memfd = false;
  auto fields = decode(journald.receive(&in_memfd));
  EXPECT_TRUE(in_memfd);
  EXPECT_EQ(fields.find("MESSAGE")->second, huge);
  EXPECT_EQ(fields.find("PRIORITY")->second, "6");
}

TEST(JournalSocket, NoJournaldIsAFailureTheCallerSees) {
  JournalSocket sock("/nonexistent/stallwatch/journal/socket");
  errno = 0;
  EXPECT_FALSE(sock.send({"MESSAGE=lost?"}));
  EXPECT_EQ(errno, ENOENT);
}

TEST(JournalSocket, NeverWaitGivesUpWhenJournaldsQueueIsFull) {
  Journald journald;  // never reads
  JournalSocket sock(journald.path());
  int sent = 0;
  while (sent < 100000 && sock.send({"MESSAGE=filler"}, JournalSocket::Wait::kNever)) ++sent;
  EXPECT_LT(sent, 100000);
  EXPECT_EQ(errno, EAGAIN);
  bool in_memfd = true;
  EXPECT_EQ(decode(journald.receive(&in_memfd)).find("MESSAGE")->second, "filler");
}

}  // namespace
}  // namespace stallwatch

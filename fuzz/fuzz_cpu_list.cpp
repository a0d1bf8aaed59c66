// "0-3,8" CPU lists (/sys/devices/system/cpu/online).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "stallwatch/evidence/proc_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)stallwatch::evidence::parse_cpu_list(
      std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}

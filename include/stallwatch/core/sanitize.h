// SPDX-License-Identifier: GPL-2.0-or-later
// Untrusted text: what the watched tasks and the kernel log write (comm, cmdline, cgroup path,
// wchan, kernel stacks, /dev/kmsg text) turned into a safe, visible, reversible form once, at
// ingestion, and escaped again on every way out (stderr, journald, stallwatchctl). Pure
// functions, no state: any thread.
//
// sanitize_text(): every byte below 0x20, DEL (0x7f), every C1 control encoded in UTF-8
// (U+0080..U+009F) and every byte that is not part of valid UTF-8 becomes "\xHH" (one escape per
// byte, lower-case hex); a backslash becomes "\\". Everything else (valid UTF-8 from U+0020 on,
// C1 excluded) is kept. The result is valid UTF-8 with no control byte, and
// unescape_text(sanitize_text(x)) == x for every x.
#pragma once

#include <string>
#include <string_view>

namespace stallwatch {

enum class Newlines { kEscape, kKeep };

// The reversible ingestion form. Newlines::kKeep keeps '\n' as is (multi-line kernel text);
// unescape_text() still recovers the exact bytes.
std::string sanitize_text(std::string_view raw, Newlines newlines = Newlines::kEscape);
// The exact bytes back from sanitize_text() output. Malformed escapes are kept literally.
// backslash_pairs = false decodes only \xHH (the kernel's /dev/kmsg escaping, where a backslash
// itself is \x5c and a literal "\\" is two backslashes).
std::string unescape_text(std::string_view text, bool backslash_pairs = true);

// Output escaping for text that should already be sanitized but may not be (old or edited
// reports, fields built elsewhere): control bytes, C1 controls and invalid UTF-8 become "\xHH";
// backslashes are left alone, so already-sanitized text passes through unchanged. Not
// reversible; only for output.
std::string escape_controls(std::string_view text, Newlines newlines = Newlines::kEscape);
// True when escape_controls() would leave the text unchanged.
bool is_clean_text(std::string_view text, Newlines newlines = Newlines::kEscape);

// Lower-case hex of the bytes ("ff fe" -> "fffe"), for the "*_raw_hex" report fields.
std::string hex_bytes(std::string_view raw);

}  // namespace stallwatch

// SPDX-License-Identifier: GPL-2.0-or-later
// fmt compiled into stallwatch from Debian's libfmt-dev headers, as fmt's own src/format.cc
// builds it (fmt 9.1): format-inl.h once, with the explicit instantiations format.h declares
// extern. Every other translation unit then calls these instead of compiling its own inline
// copy, as header-only use (FMT_HEADER_ONLY) did: 0.6 MiB of the daemon's code, most of it fmt's
// internals repeated, and build time in every build that compiles the daemon.
#ifdef FMT_HEADER_ONLY
#error "stallwatch_fmt is the compiled fmt: FMT_HEADER_ONLY must not be defined"
#endif

#include <fmt/format-inl.h>

FMT_BEGIN_NAMESPACE
namespace detail {

template FMT_API auto dragonbox::to_decimal(float x) noexcept -> dragonbox::decimal_fp<float>;
template FMT_API auto dragonbox::to_decimal(double x) noexcept -> dragonbox::decimal_fp<double>;

#ifndef FMT_STATIC_THOUSANDS_SEPARATOR
template FMT_API locale_ref::locale_ref(const std::locale& loc);
template FMT_API auto locale_ref::get<std::locale>() const -> std::locale;
#endif

template FMT_API auto thousands_sep_impl(locale_ref) -> thousands_sep_result<char>;
template FMT_API auto decimal_point_impl(locale_ref) -> char;
template FMT_API void buffer<char>::append(const char*, const char*);
template FMT_API void vformat_to(buffer<char>&, string_view,
                                 basic_format_args<FMT_BUFFER_CONTEXT(char)>, locale_ref);

template FMT_API auto thousands_sep_impl(locale_ref) -> thousands_sep_result<wchar_t>;
template FMT_API auto decimal_point_impl(locale_ref) -> wchar_t;
template FMT_API void buffer<wchar_t>::append(const wchar_t*, const wchar_t*);

}  // namespace detail
FMT_END_NAMESPACE

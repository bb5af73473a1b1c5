#pragma once
// Internal: MD5 through OpenSSL's EVP interface, for the guide-compatible shard function (not
// for anything that needs a secure hash).

#include <array>
#include <string_view>

namespace streamll::detail {

using Md5Digest = std::array<unsigned char, 16>;

/// MD5 of `data` into `out`. False when OpenSSL offers no MD5 (a FIPS-only configuration).
/// openssl_ready() (openssl_setup.hpp) first: it looks the digest up fork-safely and says
/// whether it works.
bool md5(std::string_view data, Md5Digest& out) noexcept;

}  // namespace streamll::detail

#pragma once
// Internal: OpenSSL's one-time setup (its library init and the MD5 digest streamll looks up
// once), done under setup_lock() so that fork() never catches it half done: a child would wait
// forever on a static's guard or on a lock of OpenSSL's in its first TLS connection, sharded
// sink or configure().

namespace streamll::detail {

/// Sets OpenSSL up, once per process (later calls return at once). Whether MD5 is available
/// (not in a FIPS-only configuration).
bool openssl_ready() noexcept;

}  // namespace streamll::detail

#include "openssl_setup.hpp"

#include <openssl/ssl.h>

#include <mutex>

#include "logging.hpp"
#include "md5.hpp"

namespace streamll::detail {

bool openssl_ready() noexcept {
  static std::once_flag once;
  static bool md5_works = false;
  try {
    std::call_once(once, [] {
      std::lock_guard<std::mutex> lock(setup_lock());
      OPENSSL_init_ssl(0, nullptr);
      Md5Digest digest{};
      md5_works = md5({}, digest);  // the digest's lookup, a static of md5.cpp
    });
  } catch (...) {
    // std::call_once failed to run: nothing was set up here; OpenSSL sets itself up on use.
  }
  return md5_works;
}

}  // namespace streamll::detail

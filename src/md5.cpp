#include "md5.hpp"

#include <openssl/evp.h>
#include <openssl/opensslv.h>

namespace streamll::detail {
namespace {

// The algorithm looked up once: with OpenSSL 3, EVP_md5() would be looked up again on every
// digest (a lock and a table lookup on the emitting thread).
const EVP_MD* md5_algorithm() noexcept {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
  static const EVP_MD* const algorithm = EVP_MD_fetch(nullptr, "MD5", nullptr);
  return algorithm;
#else
  return EVP_md5();
#endif
}

}  // namespace

bool md5(std::string_view data, Md5Digest& out) noexcept {
  const EVP_MD* algorithm = md5_algorithm();
  if (algorithm == nullptr) return false;
  unsigned int size = 0;
  return EVP_Digest(data.data(), data.size(), out.data(), &size, algorithm, nullptr) == 1 &&
         size == out.size();
}

}  // namespace streamll::detail

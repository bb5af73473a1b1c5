#pragma once
// Which sanitizer a test file is built with, for the few tests a sanitizer's runtime cannot
// run as written. GCC defines __SANITIZE_ADDRESS__ and __SANITIZE_THREAD__; clang 14 answers
// only through __has_feature.

#if defined(__SANITIZE_ADDRESS__)
#define STREAMLL_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STREAMLL_TEST_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define STREAMLL_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STREAMLL_TEST_TSAN 1
#endif
#endif

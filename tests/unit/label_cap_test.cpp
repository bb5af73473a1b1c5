// LabelCap (src/cli/label_cap.hpp): the first `cap` distinct values keep their name, later ones
// fold into "other" and are counted, at the boundaries 0, 1 and the cap.

#include <catch2/catch.hpp>

#include <string>

#include "cli/label_cap.hpp"

using streamll::cli::LabelCap;

TEST_CASE("a label keeps its first cap values and folds the rest into other", "[prometheus]") {
  LabelCap cap(2);
  CHECK(cap.admit("gpt-4o") == "gpt-4o");
  CHECK(cap.admit("claude") == "claude");
  CHECK(cap.distinct() == 2);
  CHECK(cap.folded() == 0);
  // Admitted values stay themselves however often they come.
  CHECK(cap.admit("gpt-4o") == "gpt-4o");
  CHECK(cap.admit("gemini") == "other");
  CHECK(cap.admit("gemini") == "other");
  CHECK(cap.admit("llama") == "other");
  CHECK(cap.admit("claude") == "claude");
  CHECK(cap.distinct() == 2);
  CHECK(cap.folded() == 3);
}

TEST_CASE("a cap of 0 folds everything and a cap of 1 keeps the first", "[prometheus]") {
  LabelCap none(0);
  CHECK(none.admit("") == "other");
  CHECK(none.admit("a") == "other");
  CHECK(none.folded() == 2);
  LabelCap one(1);
  CHECK(one.admit("") == "");  // the empty value is a value
  CHECK(one.admit("a") == "other");
  CHECK(one.admit("") == "");
  CHECK(one.folded() == 1);
}

TEST_CASE("a label cap holds at most cap values over many", "[prometheus]") {
  LabelCap cap(1000);
  for (int i = 0; i < 5000; ++i) {
    const std::string value = "model-" + std::to_string(i % 3000);
    const auto got = cap.admit(value);
    CHECK((i % 3000 < 1000 ? got == value : got == "other"));
  }
  CHECK(cap.distinct() == 1000);
  CHECK(cap.folded() == 5000 - 1000 - 1000);  // 0..999 twice (i < 1000 and 3000..3999)
}

TEST_CASE("label values are cut to 128 bytes without splitting a character", "[prometheus]") {
  LabelCap cap(10);
  const std::string ascii(127, 'a');
  CHECK(cap.admit(ascii) == ascii);
  CHECK(cap.admit(ascii + "b") == ascii + "b");   // 128: kept whole
  CHECK(cap.admit(ascii + "bc") == ascii + "b");  // 129: cut
  // A two-byte character across the limit goes whole or not at all.
  const std::string split = ascii + "\xc3\xa9";
  CHECK(cap.admit(split) == ascii);
  // Values equal once cut are one value.
  CHECK(cap.distinct() == 2);
  CHECK(cap.admit(std::string(5000, 'x')).size() == 128);
}

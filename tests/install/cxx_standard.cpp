// Built with -std=c++20 through pkg-config by tests/install/check.sh: the package's flags must
// leave the user's language standard alone (a -std=c++17 in Cflags came after the user's own
// flag and won).
#include <streamll/streamll.hpp>

static_assert(__cplusplus >= 202002L, "streamll's pkg-config flags changed the C++ standard");

int main() { return 0; }

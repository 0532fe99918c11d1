#include <gtest/gtest.h>

#include "epscope/base/error.h"
#include "epscope/base/lists.h"

namespace epscope {
namespace {

TEST(TokenList, RepeatSyntaxExpands) {
  const auto v = parse_token_list("384x8,64x8", "tokens");
  ASSERT_EQ(v.size(), 16u);
  EXPECT_EQ(v[0], 384);
  EXPECT_EQ(v[7], 384);
  EXPECT_EQ(v[8], 64);
  EXPECT_EQ(v[15], 64);
}

TEST(TokenList, SingleValueBroadcastsButListsMustMatch) {
  EXPECT_EQ(expand_token_list("128", 4, "tokens"), (std::vector<std::int64_t>{128, 128, 128, 128}));
  EXPECT_EQ(expand_token_list("1,2,3,4", 4, "tokens"), (std::vector<std::int64_t>{1, 2, 3, 4}));
  EXPECT_THROW(expand_token_list("1,2,3", 4, "tokens"), InputError);
  // "128x1" is an explicit one-rank list, not a broadcast.
  EXPECT_THROW(expand_token_list("128x1", 4, "tokens"), InputError);
}

TEST(TokenList, RejectsBadItemsNamingTheField) {
  for (const char* bad : {"", "-1", "abc", "3x0", "3x", "x3", "1,,2", "1.5", "4x-2"}) {
    try {
      parse_token_list(bad, "tokens");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const InputError& e) {
      EXPECT_EQ(e.field(), "tokens") << bad;
      EXPECT_NE(std::string(e.what()).find("tokens"), std::string::npos);
    }
  }
}

TEST(TokenList, RejectsAbsurdSizes) {
  EXPECT_THROW(parse_token_list("1099511627776", "tokens"), InputError);  // 2^40 tokens
  EXPECT_THROW(parse_token_list("1x1000000", "tokens"), InputError);      // EP 1,000,000
}

TEST(TokenList, FormatRoundTrips) {
  const std::vector<std::int64_t> v = {384, 384, 64, 7, 7, 7};
  EXPECT_EQ(format_token_list(v), "384x2,64,7x3");
  EXPECT_EQ(parse_token_list(format_token_list(v), "tokens"), v);
}

TEST(RealList, ParsesOffsetsAndRejectsNonFinite) {
  EXPECT_EQ(expand_real_list("0x2,12.5x2", 4, "start-offset-us"),
            (std::vector<double>{0, 0, 12.5, 12.5}));
  EXPECT_THROW(parse_real_list("nan", "start-offset-us"), InputError);
  EXPECT_THROW(parse_real_list("inf", "start-offset-us"), InputError);
}

}  // namespace
}  // namespace epscope

#include "loop/webhook.h"

#include <catch2/catch.hpp>

using namespace meridian;

TEST_CASE("GitHub's documented test vector", "[webhook]") {
  // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
  const std::string secret = "It's a Secret to Everybody";
  const std::string payload = "Hello, World!";
  const std::string expected = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
  CHECK(hmac_sha256_hex(secret, payload) == expected);
  CHECK(verify_hmac_signature(secret, payload, "sha256=" + expected));
}

TEST_CASE("signatures that do not match are refused", "[webhook]") {
  const std::string secret = "It's a Secret to Everybody";
  const std::string good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
  CHECK(verify_hmac_signature(secret, "Hello, World!", "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17"));
  CHECK_FALSE(verify_hmac_signature(secret, "Hello, World?", good));
  CHECK_FALSE(verify_hmac_signature("another secret", "Hello, World!", good));
  CHECK_FALSE(verify_hmac_signature(secret, "Hello, World!", ""));
  CHECK_FALSE(verify_hmac_signature(secret, "Hello, World!", "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"));
  CHECK_FALSE(verify_hmac_signature(secret, "Hello, World!", "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"));
  CHECK_FALSE(verify_hmac_signature(secret, "Hello, World!", good.substr(0, good.size() - 2)));
  CHECK_FALSE(verify_hmac_signature(secret, "Hello, World!", good + "00"));
  CHECK_FALSE(verify_hmac_signature(secret, "Hello, World!", "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"));
  // No secret configured: nothing verifies, not even the HMAC of an empty key.
  CHECK_FALSE(verify_hmac_signature("", "Hello, World!", "sha256=" + hmac_sha256_hex("", "Hello, World!")));
}

TEST_CASE("GitLab tokens compare whole", "[webhook]") {
  CHECK(verify_token("s3cret", "s3cret"));
  CHECK_FALSE(verify_token("s3cret", "s3cre"));
  CHECK_FALSE(verify_token("s3cret", "s3cret "));
  CHECK_FALSE(verify_token("s3cret", ""));
  CHECK_FALSE(verify_token("", ""));
}

TEST_CASE("the token bucket allows a burst, then the refill rate", "[webhook]") {
  using namespace std::chrono_literals;
  TokenBucket bucket(3, 2); // 3 at once, 2 per second
  const auto start = TokenBucket::Clock::now();
  CHECK(bucket.take(start));
  CHECK(bucket.take(start));
  CHECK(bucket.take(start));
  CHECK_FALSE(bucket.take(start));
  CHECK_FALSE(bucket.take(start + 400ms)); // 0.8 tokens
  CHECK(bucket.take(start + 500ms));       // 1.0 token
  CHECK_FALSE(bucket.take(start + 500ms));
  // A long pause refills to the burst, never beyond.
  const auto later = start + 60s;
  CHECK(bucket.take(later));
  CHECK(bucket.take(later));
  CHECK(bucket.take(later));
  CHECK_FALSE(bucket.take(later));
  // Time going backwards (another thread's earlier timestamp) never adds tokens.
  CHECK_FALSE(bucket.take(start));
}

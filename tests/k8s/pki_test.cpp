// The generated TLS material: a CA, a server certificate it signs that is valid for 127.0.0.1
// (what kubectl and python verify against the kubeconfig's certificate-authority-data), reuse
// across restarts, and base64 against RFC 4648 vectors.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "k8s/apiserver/pki.h"
#include "k8s/client/base64.h"

namespace kaito::k8s::apiserver {
namespace {

std::unique_ptr<X509, decltype(&X509_free)> parse_pem(const std::string& pem) {
  BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  return {x, X509_free};
}

TEST(PkiTest, Base64Rfc4648) {  // k8s/client/base64.h, as kubeconfig *-data fields use it
  for (auto [plain, coded] : std::vector<std::pair<std::string, std::string>>{
           {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foobar", "Zm9vYmFy"}}) {
    EXPECT_EQ(base64_encode(plain), coded);
    EXPECT_EQ(*base64_decode(coded, "f"), plain);
  }
  for (const char* bad : {"Zg=", "Z===", "Zg=A", "====", "Zm9$", "Zm8=Zm8="}) {
    auto r = base64_decode(bad, "data.x");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().where(), "data.x");
  }
  EXPECT_EQ(*base64_decode("Zm9v\nYmFy", "f"), "foobar");  // whitespace skipped
}

TEST(PkiTest, ServerCertificateIsSignedByCaAndValidFor127001) {
  char tmpl[] = "/tmp/kaito_pki_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto first = load_or_create_pki(dir + "/pki");
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  auto ca = parse_pem(first->ca_cert_pem);
  auto leaf = parse_pem(first->server_cert_pem);
  ASSERT_TRUE(ca && leaf);
  EVP_PKEY* ca_key = X509_get0_pubkey(ca.get());
  EXPECT_EQ(X509_verify(leaf.get(), ca_key), 1);
  EXPECT_EQ(X509_verify(ca.get(), ca_key), 1);  // self-signed
  EXPECT_EQ(X509_check_ip_asc(leaf.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_host(leaf.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_ip_asc(leaf.get(), "10.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_EQ(std::filesystem::status(dir + "/pki/server.key").permissions() &
                std::filesystem::perms::others_read,
            std::filesystem::perms::none);
  auto again = load_or_create_pki(dir + "/pki");  // reused, not regenerated
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ca_cert_pem, first->ca_cert_pem);
  EXPECT_EQ(again->server_key_pem, first->server_key_pem);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kaito::k8s::apiserver

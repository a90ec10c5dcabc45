// Self-signed CA and server certificate with OpenSSL 3; see pki.h.
#include "k8s/apiserver/pki.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>

#include "k8s/apiserver/kubeconfig.h"

namespace kaito::k8s::apiserver {

namespace {

using pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using x509_ptr = std::unique_ptr<X509, decltype(&X509_free)>;

pkey_ptr new_key() {
  return pkey_ptr(EVP_EC_gen("P-256"), EVP_PKEY_free);
}

bool add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

x509_ptr make_cert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key, bool ca) {
  x509_ptr cert(X509_new(), X509_free);
  if (!cert) return cert;
  X509_set_version(cert.get(), 2);
  std::random_device rd;
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), static_cast<long>(rd() & 0x7fffffff));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("kaito"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509* iss = issuer ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(iss));
  bool ok = ca ? add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:TRUE") &&
                     add_ext(cert.get(), iss, NID_key_usage,
                             "critical,keyCertSign,cRLSign,digitalSignature")
               : add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:FALSE") &&
                     add_ext(cert.get(), iss, NID_key_usage,
                             "critical,digitalSignature,keyEncipherment") &&
                     add_ext(cert.get(), iss, NID_ext_key_usage, "serverAuth") &&
                     add_ext(cert.get(), iss, NID_subject_alt_name,
                             "IP:127.0.0.1,IP:0:0:0:0:0:0:0:1,DNS:localhost");
  if (!ok || X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) == 0)
    return x509_ptr(nullptr, X509_free);
  return cert;
}

std::string pem_cert(X509* c) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, c);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

std::string pem_key(EVP_PKEY* k) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return !out.empty();
}

}  // namespace

result<tls_files> load_or_create_pki(const std::string& dir) {
  tls_files f;
  if (read_file(dir + "/ca.crt", f.ca_cert_pem) &&
      read_file(dir + "/server.crt", f.server_cert_pem) &&
      read_file(dir + "/server.key", f.server_key_pem))
    return f;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return io_error("cannot create directory: " + ec.message(), dir);
  auto ca_key = new_key();
  auto srv_key = new_key();
  if (!ca_key || !srv_key) return internal_error("cannot generate EC keys");
  auto ca = make_cert(ca_key.get(), "kaito-ca", nullptr, nullptr, true);
  if (!ca) return internal_error("cannot build the CA certificate");
  auto leaf = make_cert(srv_key.get(), "kaito-apiserver", ca.get(), ca_key.get(), false);
  if (!leaf) return internal_error("cannot build the server certificate");
  f.ca_cert_pem = pem_cert(ca.get());
  f.server_cert_pem = pem_cert(leaf.get()) + f.ca_cert_pem;
  f.server_key_pem = pem_key(srv_key.get());
  KAITO_TRY(write_private_file(dir + "/ca.key", pem_key(ca_key.get())));
  KAITO_TRY(write_private_file(dir + "/server.key", f.server_key_pem));
  KAITO_TRY(write_private_file(dir + "/server.crt", f.server_cert_pem));
  KAITO_TRY(write_private_file(dir + "/ca.crt", f.ca_cert_pem));
  return f;
}

}  // namespace kaito::k8s::apiserver

// Seed 004 — the libindy agency: cheap requests from many clients, expensive ones from a few.
//
// libindy ran every command on one executor thread, so one credential-definition key generation
// (30 s) blocked every other request (HIPE 0012, problem 1). The Agency canister serves:
//   create_did(seed)             cheap: an Ed25519 key pair from a 32-byte seed, the DID being the
//                                base58 of the verkey's first 16 bytes (as Indy's
//                                create_and_store_my_did) — about 50 µs.
//   create_cred_def_inline(seed) expensive, inside the canister's own execution: libindy before
//                                the fix. The round (and every other request) waits for it.
//   create_cred_def(seed)        the same work offloaded to the "expensive" pool (R22): the
//                                canister keeps serving create_did meanwhile.
//   stats()                      query: counters.
// The expensive work stands in for CL key generation: Argon2id (libsodium crypto_pwhash, memory-
// hard, `keygen_ops` passes over `keygen_mem_kib`) derives the issuer's secret seed, from which an
// Ed25519 key pair is made; the reply is the base58 public key. It is deterministic in the seed,
// so the simulation of this canister is reproducible (R20). Tune keygen_ops to ~1 s of CPU with
// calibrate_keygen_ops().
//
// Requires libsodium (link with -lsodium; cmake/sodium.cmake).
#pragma once

#include <canopy/canopy.hpp>
#include <canopy/pool.hpp>

#include <sodium.h>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace examples::agency {

inline void ensure_sodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) throw std::runtime_error("libsodium could not be initialized");
}

inline std::string base58(const unsigned char* data, size_t n) {
  static constexpr char alphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  std::string digits;  // little-endian base-58 digits
  for (size_t i = 0; i < n; ++i) {
    uint32_t carry = data[i];
    for (char& d : digits) {
      carry += static_cast<uint32_t>(d) * 256;
      d = static_cast<char>(carry % 58);
      carry /= 58;
    }
    while (carry != 0) {
      digits.push_back(static_cast<char>(carry % 58));
      carry /= 58;
    }
  }
  std::string out;
  for (size_t i = 0; i < n && data[i] == 0; ++i)
    out.push_back('1');
  for (auto it = digits.rbegin(); it != digits.rend(); ++it)
    out.push_back(alphabet[static_cast<uint8_t>(*it)]);
  return out;
}

// 32-byte seed from an arbitrary client string (BLAKE2b).
inline std::array<unsigned char, 32> seed32(const std::string& seed) {
  ensure_sodium();
  std::array<unsigned char, 32> out{};
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(seed.data()),
                     seed.size(), nullptr, 0);
  return out;
}

// Cheap: Indy's DID from a seed.
inline std::string did_from_seed(const std::string& seed) {
  const auto s = seed32(seed);
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(pk, sk, s.data());
  sodium_memzero(sk, sizeof sk);
  return "did:sov:" + base58(pk, 16);
}

struct KeygenWork {
  uint32_t ops = 1;          // Argon2id passes (crypto_pwhash opslimit)
  uint32_t mem_kib = 8'192;  // memory per run (crypto_pwhash memlimit / 1024)
  template <class Archive>
  void serialize(Archive& ar) {
    ar(ops, mem_kib);
  }
};

// Expensive: the credential-definition key pair, derived from `seed` with `work`. Thread-safe.
inline std::string cred_def_keygen(const std::string& seed, KeygenWork work) {
  const auto s = seed32(seed);
  unsigned char salt[crypto_pwhash_SALTBYTES] = {'c', 'a', 'n', 'o', 'p', 'y',
                                                 '-', 'c', 'r', 'e', 'd'};
  unsigned char issuer_seed[32];
  if (crypto_pwhash(issuer_seed, sizeof issuer_seed, reinterpret_cast<const char*>(s.data()),
                    s.size(), salt, work.ops, size_t{work.mem_kib} * 1024,
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw std::runtime_error("key generation ran out of memory");
  }
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(pk, sk, issuer_seed);
  sodium_memzero(sk, sizeof sk);
  sodium_memzero(issuer_seed, sizeof issuer_seed);
  return base58(pk, sizeof pk);
}

struct AgencyStats {
  uint64_t dids = 0;
  uint64_t cred_defs = 0;
  uint64_t cred_def_failures = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(dids, cred_defs, cred_def_failures);
  }
};

struct AgencyState {
  KeygenWork work;
  std::string pool = "expensive";
  AgencyStats stats;
  std::string last_did;
  std::string last_cred_def;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(work, pool, stats, last_did, last_cred_def);
  }
};

struct Agency : canopy::Canister<AgencyState> {
  static void methods(canopy::Methods<Agency>& m) {
    m.update("create_did", &Agency::create_did);
    m.update("create_cred_def_inline", &Agency::create_cred_def_inline);
    m.update("create_cred_def", &Agency::create_cred_def);
    m.query("stats", &Agency::get_stats);
  }

  std::string create_did(canopy::Ctx&, std::string seed) {
    state().last_did = did_from_seed(seed);
    ++state().stats.dids;
    return state().last_did;
  }

  // libindy before the fix: the work runs inside this execution, blocking the round.
  std::string create_cred_def_inline(canopy::Ctx&, std::string seed) {
    state().last_cred_def = cred_def_keygen(seed, state().work);
    ++state().stats.cred_defs;
    return state().last_cred_def;
  }

  // R22: the work runs on the pool; this canister serves other messages until it comes back.
  canopy::Task<canopy::NoReply> create_cred_def(canopy::Ctx& ctx, std::string seed) {
    // The job gets copies (seed, work), never the state. offload_with, not a capturing lambda,
    // because g++ 12 miscompiles lambda temporaries inside co_await (see canopy/pool.hpp).
    auto key =
        co_await canopy::offload_with(ctx, state().pool, 1, &cred_def_keygen, seed, state().work);
    if (!key) {
      ++state().stats.cred_def_failures;
      ctx.reject("credential definition failed: " + key.error().message);
      co_return canopy::NoReply{};
    }
    state().last_cred_def = *key;
    ++state().stats.cred_defs;
    ctx.reply(*key);
    co_return canopy::NoReply{};
  }

  AgencyStats get_stats(canopy::Ctx&) { return state().stats; }
};

}  // namespace examples::agency

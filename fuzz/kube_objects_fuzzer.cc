// Fuzzes every Kubernetes object decoder of core/model_decode.cc (the watch cache and the
// extender feed them API-server JSON). Any JSON value goes to each decoder; a decoded Lease (the
// one kind this process writes) re-encodes to an object that decodes to the same Lease.
#include <nlohmann/json.hpp>

#include "core/model.h"
#include "fuzz/fuzz_check.h"

namespace {

void CheckLeaseRoundTrip(const kb::Lease& lease) {
  const kb::StatusOr<kb::Lease> again = kb::DecodeLease(kb::EncodeLease(lease));
  KB_FUZZ_CHECK(again.ok(), "an encoded Lease is rejected by the decoder");
  KB_FUZZ_CHECK(again->meta.name == lease.meta.name &&
                    again->holder_identity == lease.holder_identity &&
                    again->lease_duration_seconds == lease.lease_duration_seconds &&
                    again->lease_transitions == lease.lease_transitions &&
                    again->acquire_time.has_value() == lease.acquire_time.has_value() &&
                    again->renew_time.has_value() == lease.renew_time.has_value(),
                "an encoded Lease decodes to another Lease");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr,
                                                 /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  (void)kb::DecodeNode(j);
  (void)kb::DecodePod(j);
  (void)kb::DecodePodDisruptionBudget(j);
  (void)kb::DecodeReplicaSet(j);
  (void)kb::DecodeDeployment(j);
  (void)kb::DecodeStatefulSet(j);
  (void)kb::DecodeNamespace(j);
  (void)kb::DecodePriorityClass(j);
  (void)kb::DecodePersistentVolume(j);
  (void)kb::DecodePersistentVolumeClaim(j);
  (void)kb::DecodeStorageClass(j);
  const kb::StatusOr<kb::Lease> lease = kb::DecodeLease(j);
  if (lease.ok()) CheckLeaseRoundTrip(*lease);
  return 0;
}

// names: the labels, annotations, finalizer, condition reasons and fixed strings the controllers
// write, in one place (Kaito's api/v1beta1/labels.go and condition reasons, kaito.md 1.6-1.8, and
// kaito-cpp's own machine labels).
#pragma once

namespace kaito::k8s::controllers {

namespace labels {
inline constexpr const char* kWorkspace = "kaito.sh/workspace";
inline constexpr const char* kWorkspaceNamespace = "kaito.sh/workspacenamespace";
inline constexpr const char* kWorkspaceName = "workspace.kaito.io/name";  // ControllerRevisions
inline constexpr const char* kMachine = "kaito.sh/machine";
inline constexpr const char* kInstanceTypeAny = "kaito.sh/instance-type-any";
inline constexpr const char* kInstanceType = "node.kubernetes.io/instance-type";
inline constexpr const char* kHostname = "kubernetes.io/hostname";
inline constexpr const char* kOs = "kubernetes.io/os";
inline constexpr const char* kArch = "kubernetes.io/arch";
inline constexpr const char* kJobName = "job-name";
inline constexpr const char* kBatchJobName = "batch.kubernetes.io/job-name";
inline constexpr const char* kControllerUid = "controller-uid";
inline constexpr const char* kStsPodName = "statefulset.kubernetes.io/pod-name";
inline constexpr const char* kPodIndex = "apps.kubernetes.io/pod-index";
inline constexpr const char* kControllerRevisionHash = "controller-revision-hash";
}  // namespace labels

namespace annotations {
inline constexpr const char* kRevision = "workspace.kaito.io/revision";
inline constexpr const char* kHash = "workspace.kaito.io/hash";
inline constexpr const char* kSelfTestSeconds = "kaito.sh/self-test-seconds";
// On a claimed Node: the label keys the claim added (comma-separated), removed on release.
inline constexpr const char* kClaimedLabels = "kaito.sh/claimed-labels";
}  // namespace annotations

inline constexpr const char* kFinalizer = "workspace.finalizer.kaito.sh";
inline constexpr const char* kWorkerImage = "kaito-cpp/kaito:0.1.0";
inline constexpr const char* kCpuInstanceType = "kaito-cpu";
inline constexpr const char* kGpuResource = "nvidia.com/gpu";
inline constexpr const char* kWorkerSlots = "kaito.sh/worker-slots";
inline constexpr const char* kEventSource = "kaito-workspace";
inline constexpr int kMaxRevisionHistory = 10;
inline constexpr int kMaxSelfTestSeconds = 86400;
inline constexpr int kDefaultBackoffLimit = 6;

// Condition reasons (kaito.md 1.6; Kubernetes' job/pod/node reasons for the built-ins).
namespace reasons {
inline constexpr const char* kNodeClaimsReady = "NodeClaimsReady";
inline constexpr const char* kNodeClaimNotReady = "NodeClaimNotReady";
inline constexpr const char* kNodesReady = "NodesReady";
inline constexpr const char* kNodeNotReady = "NodeNotReady";
inline constexpr const char* kResourceSuccess = "workspaceResourceStatusSuccess";
inline constexpr const char* kResourceNotReady = "workspaceResourceStatusNotReady";
inline constexpr const char* kInferenceSuccess = "WorkspaceInferenceStatusSuccess";
inline constexpr const char* kInferencePending = "WorkspaceInferenceStatusPending";
inline constexpr const char* kJobStarted = "WorkspaceTuningJobStatusStarted";
inline constexpr const char* kJobPending = "WorkspaceTuningJobStatusPending";
inline constexpr const char* kJobFailed = "WorkspaceTuningJobStatusFailed";
inline constexpr const char* kSucceeded = "workspaceSucceeded";
inline constexpr const char* kPending = "workspacePending";
inline constexpr const char* kFailed = "workspaceFailed";
inline constexpr const char* kDeleted = "workspaceDeleted";
inline constexpr const char* kInvalidSelfTest = "InvalidSelfTestSeconds";
inline constexpr const char* kUnschedulable = "Unschedulable";
inline constexpr const char* kBackoffLimitExceeded = "BackoffLimitExceeded";
inline constexpr const char* kCompletionsReached = "CompletionsReached";
inline constexpr const char* kNodeStatusUnknown = "NodeStatusUnknown";
inline constexpr const char* kKubeletReady = "KubeletReady";
}  // namespace reasons

}  // namespace kaito::k8s::controllers
